import CHiredis
import NIOCore

/// Parses RESP replies with hiredis's reader. Bytes are fed as they arrive; `next()` returns
/// complete replies one at a time. hiredis keeps its own buffer, so the caller must drain with
/// `next()` until it returns nil after every feed. Not thread-safe: owned by one channel handler.
final class RESPReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else {
            preconditionFailure("hiredis could not allocate a reader (out of memory)")
        }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw readerError() }
    }

    func next() throws -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw readerError() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func readerError() -> RedisClientError {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return RedisClientError(.protocolError, "invalid RESP from server: \(message)")
    }

    /// Copies a hiredis reply tree into Swift values (the C tree is freed right after). Every
    /// bulk string of the reply is copied into one buffer first, then handed out as a slice of
    /// it (slicing only once the buffer is complete: a write after a slice would copy it): an
    /// HGETALL of 20 fields costs one buffer allocation, not 40 (the profile of a one-key read
    /// showed the per-string buffers).
    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        var storage = ByteBuffer()
        storage.reserveCapacity(stringBytes(reply))
        copyStrings(reply, into: &storage)
        var offset = storage.readerIndex
        return build(reply, from: storage, offset: &offset)
    }

    private static func stringBytes(_ reply: UnsafeMutablePointer<redisReply>) -> Int {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING: return r.len
        case REDIS_REPLY_ARRAY:
            var total = 0
            for index in 0..<r.elements { if let element = r.element[index] { total += stringBytes(element) } }
            return total
        default: return 0
        }
    }

    /// The bulk strings' bytes, depth first (the order `build` takes them back in).
    private static func copyStrings(_ reply: UnsafeMutablePointer<redisReply>, into storage: inout ByteBuffer) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            storage.writeBytes(UnsafeRawBufferPointer(start: r.str, count: r.len))
        case REDIS_REPLY_ARRAY:
            for index in 0..<r.elements { if let element = r.element[index] { copyStrings(element, into: &storage) } }
        default:
            break
        }
    }

    private static func build(_ reply: UnsafeMutablePointer<redisReply>, from storage: ByteBuffer, offset: inout Int) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            defer { offset += r.len }
            // In range by construction: copyStrings wrote these bytes at this offset.
            return .string(storage.getSlice(at: offset, length: r.len) ?? ByteBuffer())
        case REDIS_REPLY_STATUS:
            return .status(text(r))
        case REDIS_REPLY_ERROR:
            return .error(text(r))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] { elements.append(build(element, from: storage, offset: &offset)) } else { elements.append(.null) }
            }
            return .array(elements)
        default:  // REDIS_REPLY_NIL
            return .null
        }
    }

    private static func text(_ r: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self)
    }
}
