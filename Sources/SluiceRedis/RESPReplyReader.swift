import CHiredis
import NIOCore

/// Parses RESP replies with hiredis's reader. Bytes are fed as they arrive; `next()` returns
/// complete replies one at a time. hiredis keeps its own buffer, so the caller must drain with
/// `next()` until it returns nil after every feed. Not thread-safe: owned by one channel handler.
///
/// hiredis parses; it does not build. Its default reply objects cost two mallocs per bulk string
/// and a walk to free them, and the bytes were then copied into Swift values anyway: a fifth of
/// a one-key read's instructions (`GET /instances/{id}` under callgrind: 95k per request, of which
/// 19k `freeReplyObject` and 20k copying out of the C tree). The reader is created with object
/// functions of our own instead: each one records its node (`ReplyNodes`) and keeps a bulk
/// string's bytes (small ones in raw memory, large ones in a `ByteBuffer`), and a complete reply
/// is built from those (get-instance 461k → 420k instructions and 213 → 82 allocations per
/// request; a list of 100 checkpoints 482 → 82).
final class RESPReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// Behind a pointer, not in a class: the callbacks append to it for every element, and a
    /// class's stored properties would be checked for exclusive access (a thread-local look-up)
    /// at each append, which cost more than hiredis's mallocs it replaces.
    private let nodes: UnsafeMutablePointer<ReplyNodes>
    /// hiredis keeps the pointer, so the table lives as long as the reader.
    private let functions: UnsafeMutablePointer<redisReplyObjectFunctions>

    init() {
        nodes = .allocate(capacity: 1)
        nodes.initialize(to: ReplyNodes())
        functions = .allocate(capacity: 1)
        functions.initialize(to: ReplyNodes.objectFunctions)
        guard let reader = redisReaderCreateWithFunctions(functions) else {
            preconditionFailure("hiredis could not allocate a reader (out of memory)")
        }
        self.reader = reader
        reader.pointee.privdata = UnsafeMutableRawPointer(nodes)
    }

    deinit {
        redisReaderFree(reader)
        functions.deinitialize(count: 1)
        functions.deallocate()
        nodes.deinitialize(count: 1)
        nodes.deallocate()
    }

    func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw readerError() }
    }

    func next() throws -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            nodes.pointee.reset()
            throw readerError()
        }
        guard raw != nil else { return nil }
        return nodes.pointee.take()
    }

    private func readerError() -> RedisClientError {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return RedisClientError(.protocolError, "invalid RESP from server: \(message)")
    }
}

/// The reply being read, as hiredis reports it: its nodes depth first (an array before its
/// elements, which is the order hiredis calls the object functions in) and its bulk strings'
/// bytes in two buffers (by size), handed out as slices of them once the reply is complete.
struct ReplyNodes: ~Copyable {
    enum Node {
        /// A bulk string under `largeString` bytes, in `small`, or one of at least that, in `large`.
        case string(length: Int)
        case largeString(length: Int)
        case status(String)
        case error(String)
        case integer(Int64)
        case array(count: Int)
        case null
    }

    private var nodes: [Node] = []
    private var small = ReplyBytes()
    private var large = ByteBuffer()

    /// Where a bulk string goes to `large`: a `ByteBuffer` write's fixed cost is small beside
    /// copying this many bytes, and `small` would copy them twice (a list of 100 checkpoints of
    /// 1 KiB cost 25% more instructions with every string in `small`).
    static let largeString = 256

    mutating func append(_ node: Node) { nodes.append(node) }

    mutating func appendString(type: Int32, _ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) {
        let raw = UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : length)
        switch type {
        case REDIS_REPLY_STATUS: nodes.append(.status(String(decoding: raw, as: UTF8.self)))
        case REDIS_REPLY_ERROR: nodes.append(.error(String(decoding: raw, as: UTF8.self)))
        default:
            if raw.count < Self.largeString {
                small.append(raw)
                nodes.append(.string(length: raw.count))
            } else {
                large.writeBytes(raw)
                nodes.append(.largeString(length: raw.count))
            }
        }
    }

    /// The complete reply, and a fresh start for the next one (its slices keep these buffers;
    /// the next reply writes into new ones, so no slice is ever copied).
    mutating func take() -> RedisReply {
        var index = 0
        var cursor = Cursor(small: small.buffer(), large: large)
        let reply = build(&index, &cursor)
        reset()
        return reply
    }

    /// Where the next bulk string's bytes start in each buffer, as `build` walks the nodes.
    private struct Cursor {
        let small: ByteBuffer
        let large: ByteBuffer
        var smallOffset = 0
        var largeOffset: Int

        init(small: ByteBuffer, large: ByteBuffer) {
            self.small = small
            self.large = large
            largeOffset = large.readerIndex
        }
    }

    mutating func reset() {
        // The node list is kept for the next reply unless a big one grew it: a connection
        // should not hold a large reply's bookkeeping for the rest of its life.
        nodes.removeAll(keepingCapacity: nodes.capacity <= Self.keptCapacity)
        small.reset()
        large = ByteBuffer()
    }

    static let keptCapacity = 1024

    private func build(_ index: inout Int, _ cursor: inout Cursor) -> RedisReply {
        guard index < nodes.count else { return .null }  // hiredis reports every element; defensive
        let node = nodes[index]
        index += 1
        switch node {
        // In range by construction: appendString wrote these bytes at these offsets.
        case .string(let length):
            defer { cursor.smallOffset += length }
            return .string(cursor.small.getSlice(at: cursor.smallOffset, length: length) ?? ByteBuffer())
        case .largeString(let length):
            defer { cursor.largeOffset += length }
            return .string(cursor.large.getSlice(at: cursor.largeOffset, length: length) ?? ByteBuffer())
        case .status(let text): return .status(text)
        case .error(let text): return .error(text)
        case .integer(let value): return .integer(value)
        case .null: return .null
        case .array(let count):
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(build(&index, &cursor)) }
            return .array(elements)
        }
    }
}

/// The small bulk strings' bytes of the reply being read, appended in raw memory the reader owns
/// and made into one `ByteBuffer` when the reply is complete. Appending to a `ByteBuffer` directly
/// was a dynamically checked access to its storage per string (`swift_beginAccess` and a
/// thread-local look-up, ~300 instructions with the write): 68 per `GET /instances/{id}`,
/// 20k of its instructions.
struct ReplyBytes: ~Copyable {
    private var memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var count = 0

    /// Memory kept for the next reply; a bigger reply's is given back when it is taken.
    static let keptCapacity = 64 * 1024

    deinit { memory.deallocate() }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress, raw.count > 0 else { return }
        if raw.count > memory.count - count { grow(toAtLeast: count + raw.count) }
        guard let target = memory.baseAddress else { preconditionFailure("reply bytes without memory after growing") }
        (target + count).copyMemory(from: source, byteCount: raw.count)
        count += raw.count
    }

    /// The bytes appended since the last reset, as one buffer (one write).
    func buffer() -> ByteBuffer {
        guard count > 0 else { return ByteBuffer() }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: memory[..<count]))
        return buffer
    }

    mutating func reset() {
        count = 0
        if memory.count > Self.keptCapacity {
            memory.deallocate()
            memory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }
    }

    private mutating func grow(toAtLeast needed: Int) {
        let capacity = Swift.max(needed, memory.count * 2, 4096)
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        if count > 0 { larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: memory[..<count])) }
        memory.deallocate()
        memory = larger
    }
}

extension ReplyNodes {
    /// hiredis's object functions. Each records its node with the reader's `ReplyNodes` (the
    /// task's `privdata`, which hiredis copies from the reader's) and returns that pointer as
    /// the object: hiredis takes null for out of memory, and hands the top-level object back
    /// from `redisReaderGetReply`, where only its presence is looked at.
    static let objectFunctions: redisReplyObjectFunctions = {
        // Field by field from a zeroed table: hiredis 1.x adds RESP3 entries (createDouble,
        // createBool) that RESP2 never calls, and the same code builds against 0.14 (Debian 12).
        var functions = redisReplyObjectFunctions()
        functions.createString = { task, pointer, length in
            guard let task, let privdata = task.pointee.privdata else { return nil }
            of(privdata).pointee.appendString(type: task.pointee.type, pointer, length)
            return privdata
        }
        functions.createArray = { task, count in
            guard let privdata = task?.pointee.privdata else { return nil }
            of(privdata).pointee.append(.array(count: max(0, Int(count))))
            return privdata
        }
        functions.createInteger = { task, value in
            guard let privdata = task?.pointee.privdata else { return nil }
            of(privdata).pointee.append(.integer(Int64(value)))
            return privdata
        }
        functions.createNil = { task in
            guard let privdata = task?.pointee.privdata else { return nil }
            of(privdata).pointee.append(.null)
            return privdata
        }
        // The objects are the nodes' own pointer: nothing to free.
        functions.freeObject = { _ in }
        return functions
    }()

    private static func of(_ privdata: UnsafeMutableRawPointer) -> UnsafeMutablePointer<ReplyNodes> {
        privdata.assumingMemoryBound(to: ReplyNodes.self)
    }
}
