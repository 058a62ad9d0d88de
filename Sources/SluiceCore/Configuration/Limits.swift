/// The size limits every write path enforces (README → Limits), derived from the configuration
/// so that one setting governs every path that writes the thing it limits.
public struct Limits: Sendable, Equatable {
    /// Context at create, every context patch (`update_context`, a worker's `context`), a
    /// worker's `output`, a decision's `payload`, and `metadata` (`SLUICE_CONTEXT_MAX_BYTES`).
    public var contextBytes: Int
    /// `checkpoint_data` (`SLUICE_CHECKPOINT_MAX_BYTES`).
    public var checkpointBytes: Int

    /// Room for the JSON around the limited values (ids, field names, other small fields).
    public static let envelopeBytes = 64 * 1024

    public init(contextBytes: Int = 256 * 1024, checkpointBytes: Int = 1024 * 1024) {
        self.contextBytes = contextBytes
        self.checkpointBytes = checkpointBytes
    }

    public init(_ configuration: SluiceConfiguration) {
        self.init(contextBytes: configuration.contextMaxBytes, checkpointBytes: configuration.checkpointMaxBytes)
    }

    /// Largest request body read (bigger ones get 413 before parsing): the largest request
    /// that fits the limits, a worker's `complete` (output and context) or a create (context
    /// and metadata), or a checkpoint, plus the envelope.
    public var bodyBytes: Int {
        let (doubled, overflow) = contextBytes.multipliedReportingOverflow(by: 2)
        let largest = overflow ? Int.max : max(doubled, checkpointBytes)
        let (total, overflowed) = largest.addingReportingOverflow(Self.envelopeBytes)
        return overflowed ? Int.max : total
    }

    /// The value's JSON size in bytes; 413 (`SluiceError.tooLarge`) naming the value and its
    /// limit when it encodes to more than `SLUICE_CONTEXT_MAX_BYTES`.
    @discardableResult
    public func checkContextSized(_ value: JSONValue, _ what: String) throws(SluiceError) -> Int {
        let size = value.encoded().count
        guard size <= contextBytes else {
            throw .tooLarge("\(what) is \(size) bytes; the limit is \(contextBytes) (SLUICE_CONTEXT_MAX_BYTES)")
        }
        return size
    }
}
