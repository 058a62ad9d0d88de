/// Ids of sequences, instances, blocks, tenants and namespaces:
/// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`. Checked once at the edge.
public enum Identifier {
    public static func isValid(_ value: String) -> Bool {
        // A native string's bytes are read in place; only a bridged one is copied.
        value.utf8.withContiguousStorageIfAvailable(isValid) ?? isValid(Array(value.utf8))
    }

    private static func isValid<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        guard let first = bytes.first, bytes.count <= 128, isAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public static let rule = "1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"
}
