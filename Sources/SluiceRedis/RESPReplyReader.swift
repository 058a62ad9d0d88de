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

    /// Copies a hiredis reply tree into Swift values (the C tree is freed right after).
    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .string(ByteBuffer(bytes: UnsafeRawBufferPointer(start: r.str, count: r.len)))
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
                if let element = r.element[index] { elements.append(convert(element)) } else { elements.append(.null) }
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
