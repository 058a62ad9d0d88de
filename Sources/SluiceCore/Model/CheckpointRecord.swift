import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stored checkpoint record (lua/save_checkpoint.lua) turned into its API representation by
/// cutting bytes, not by parsing: the client's data and the context snapshot (most of a record)
/// are copied as stored. The record is
///
///     {"id":…,"instance_id":…,"created_at":…,"snapshot":{"state":…,"sequence_version":N,
///      "block_index":N,"current_block":"<block or empty>","context_layout":[…],"context":{…}},
///      "checkpoint_data":…}
///
/// and everything before `"context":{` is written by the script from ids and numbers, so the two
/// storage details can be found there exactly: `context_layout` is dropped and an empty
/// `current_block` becomes `null`. A record not in this shape (none is written so) goes through
/// `Checkpoint(record:)`, the parsing path, so it is still answered correctly.
public enum CheckpointRecord {
    private static let layoutKey = Array(#","context_layout":["#.utf8)
    private static let emptyBlock = Array(#""current_block":"""#.utf8)
    private static let contextKey = Array(#""context":{"#.utf8)

    /// Appends the API JSON of one stored record; false when `record` is not a checkpoint record
    /// (nothing is appended then).
    @discardableResult
    public static func appendAPIJSON(of record: ByteBuffer, to out: inout ByteBuffer) -> Bool {
        let appended = record.withUnsafeReadableBytes { bytes -> Bool in
            // Only our own prefix is searched: user data never gets a say in where the cuts go.
            guard let context = firstRange(of: contextKey, in: bytes, from: 0),
                  let layout = firstRange(of: layoutKey, in: bytes, from: 0, before: context.lowerBound),
                  let layoutEnd = bytes[layout.upperBound..<context.lowerBound].firstIndex(of: UInt8(ascii: "]")),
                  bytes[layout.upperBound..<layoutEnd].allSatisfy({ $0 == UInt8(ascii: ",") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            else { return false }
            var head = bytes[0..<layout.lowerBound]
            if let empty = firstRange(of: emptyBlock, in: bytes, from: 0, before: layout.lowerBound) {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<empty.lowerBound]))
                out.writeString(#""current_block":null"#)
                head = bytes[empty.upperBound..<layout.lowerBound]
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: head))
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[(layoutEnd + 1)...]))
            return true
        }
        if appended { return true }
        guard let checkpoint = Checkpoint(record: String(buffer: record)) else { return false }
        checkpoint.json.write(into: &out)
        return true
    }

    /// The API JSON of one record, or nil when it is not one.
    public static func apiJSON(of record: ByteBuffer) -> ByteBuffer? {
        var out = ByteBuffer()
        out.reserveCapacity(record.readableBytes)
        return appendAPIJSON(of: record, to: &out) ? out : nil
    }

    /// `[record, …]` in the order given, records that are not checkpoints left out.
    public static func apiJSONArray(of records: [ByteBuffer]) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(records.reduce(2) { $0 + $1.readableBytes + 1 })
        out.writeInteger(UInt8(ascii: "["))
        var first = true
        for record in records {
            let mark = out.writerIndex
            if !first { out.writeInteger(UInt8(ascii: ",")) }
            if appendAPIJSON(of: record, to: &out) { first = false } else { out.moveWriterIndex(to: mark) }
        }
        out.writeInteger(UInt8(ascii: "]"))
        return out
    }

    /// The first `needle` in `bytes[start..<end]`: memchr for its first byte, memcmp for the
    /// rest (this runs over every record listed; a byte-by-byte Swift loop showed in the profile).
    private static func firstRange(
        of needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int, before end: Int? = nil
    ) -> Range<Int>? {
        let end = end ?? bytes.count
        guard let base = bytes.baseAddress, let first = needle.first else { return nil }
        return needle.withUnsafeBytes { needleBytes -> Range<Int>? in
            guard let needleBase = needleBytes.baseAddress else { return nil }
            var index = start
            while end - index >= needle.count {
                guard let hit = memchr(base + index, Int32(first), end - needle.count + 1 - index) else { return nil }
                index = UnsafeRawPointer(hit) - base
                if memcmp(base + index, needleBase, needle.count) == 0 { return index..<index + needle.count }
                index += 1
            }
            return nil
        }
    }

    /// Byte order of two buffers (checkpoint ids sort in save order), without copying them.
    static func precedes(_ a: ByteBuffer, _ b: ByteBuffer) -> Bool {
        a.withUnsafeReadableBytes { a in
            b.withUnsafeReadableBytes { b in
                guard let left = a.baseAddress, let right = b.baseAddress else { return a.count < b.count }
                let order = memcmp(left, right, min(a.count, b.count))
                return order < 0 || (order == 0 && a.count < b.count)
            }
        }
    }
}
