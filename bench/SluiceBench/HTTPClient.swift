import Foundation
import NIOCore
import NIOPosix

// A tiny HTTP/1.1 client on raw NIO for the SSE benchmarks: keep-alive request/response
// connections (`HTTPConnection`) and Server-Sent Events streams (`SSEStreamHandler`), both built
// on one incremental response parser that understands Content-Length and chunked bodies.
// Everything of a connection runs on its event loop; the benchmarks use one loop for all of them,
// so state shared between connections needs no locks as long as it is touched on that loop.

/// Monotonic nanoseconds (CLOCK_MONOTONIC), the clock of every timestamp in these benchmarks.
@inline(__always) func monotonicNanoseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// `http://host:port` (no path, no TLS).
struct HTTPEndpoint: Sendable {
    var host: String
    var port: Int

    init(url: String) throws {
        guard url.hasPrefix("http://") else { throw BenchmarkError(description: "--url must look like http://127.0.0.1:8080 (got \(url))") }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), !rest[..<colon].isEmpty else {
            throw BenchmarkError(description: "--url needs an explicit port, e.g. http://127.0.0.1:8080 (got \(url))")
        }
        self.host = String(rest[..<colon])
        self.port = port
    }

    var hostHeader: String { "\(host):\(port)" }
}

/// Incremental HTTP/1.1 response parser: feed it bytes as they arrive, get heads, body pieces and
/// ends back. Handles Content-Length, chunked transfer encoding (sizes, extensions, trailers),
/// bodiless statuses and read-until-close bodies; several responses in a row on one connection.
struct HTTPResponseParser {
    enum Event {
        case head(status: Int, headers: [String: String])
        case body(ByteBuffer)
        case end
    }

    private enum State {
        case statusLine, headers, fixed(remaining: Int), chunkSize, chunkData(remaining: Int), chunkEnd, trailers, untilClose
    }

    private var state = State.statusLine
    private var status = 0
    private var headers: [String: String] = [:]
    private var buffer = ByteBuffer()

    /// A line without its CR LF, or nil when no complete line is buffered yet.
    private mutating func readLine() throws -> String? {
        let view = buffer.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 64 * 1024 { throw BenchmarkError(description: "HTTP line longer than 64 KiB") }
            return nil
        }
        var line = buffer.readString(length: newline - view.startIndex) ?? ""
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    mutating func feed(_ input: ByteBuffer) throws -> [Event] {
        var input = input
        buffer.writeBuffer(&input)
        var events: [Event] = []
        parsing: while true {
            switch state {
            case .statusLine:
                guard let line = try readLine() else { break parsing }
                if line.isEmpty { continue }
                let parts = line.split(separator: " ", maxSplits: 2)
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                    throw BenchmarkError(description: "bad HTTP status line: \(line)")
                }
                status = code
                headers = [:]
                state = .headers
            case .headers:
                guard let line = try readLine() else { break parsing }
                if !line.isEmpty {
                    if let colon = line.firstIndex(of: ":") {
                        let name = line[..<colon].lowercased()
                        let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
                        headers[name] = String(value)
                    }
                    continue
                }
                if (100..<200).contains(status) { state = .statusLine; continue }  // interim response
                events.append(.head(status: status, headers: headers))
                if status == 204 || status == 304 {
                    events.append(.end)
                    state = .statusLine
                } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
                    state = .chunkSize
                } else if let text = headers["content-length"] {
                    guard let length = Int(text), length >= 0 else { throw BenchmarkError(description: "bad Content-Length: \(text)") }
                    if length == 0 {
                        events.append(.end)
                        state = .statusLine
                    } else {
                        state = .fixed(remaining: length)
                    }
                } else {
                    state = .untilClose
                }
            case .fixed(let remaining):
                guard buffer.readableBytes > 0 else { break parsing }
                let count = min(remaining, buffer.readableBytes)
                events.append(.body(buffer.readSlice(length: count)!))
                if count == remaining {
                    events.append(.end)
                    state = .statusLine
                } else {
                    state = .fixed(remaining: remaining - count)
                }
            case .chunkSize:
                guard let line = try readLine() else { break parsing }
                let hex = line.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(" \t") } ?? ""
                guard let size = Int(hex, radix: 16), size >= 0 else { throw BenchmarkError(description: "bad chunk size line: \(line)") }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { break parsing }
                let count = min(remaining, buffer.readableBytes)
                events.append(.body(buffer.readSlice(length: count)!))
                state = count == remaining ? .chunkEnd : .chunkData(remaining: remaining - count)
            case .chunkEnd:
                guard let line = try readLine() else { break parsing }
                guard line.isEmpty else { throw BenchmarkError(description: "chunk not followed by CRLF") }
                state = .chunkSize
            case .trailers:
                guard let line = try readLine() else { break parsing }
                if line.isEmpty {
                    events.append(.end)
                    state = .statusLine
                }
            case .untilClose:
                guard buffer.readableBytes > 0 else { break parsing }
                events.append(.body(buffer.readSlice(length: buffer.readableBytes)!))
            }
        }
        if buffer.readerIndex > 4096 { buffer.discardReadBytes() }
        return events
    }

    /// The connection closed: ends a read-until-close body; anything else half-read is an error.
    mutating func close() -> [Event] {
        if case .untilClose = state {
            state = .statusLine
            return [.end]
        }
        return []
    }
}

extension Substring {
    fileprivate func trimmingCharacters(_ characters: String) -> String {
        String(drop(while: { characters.contains($0) }).reversed().drop(while: { characters.contains($0) }).reversed())
    }
}

/// One Server-Sent Event.
struct SSEEvent {
    var id: String?
    var type: String
    var data: String
}

/// Incremental `text/event-stream` parser: lines end with LF (a CR before it is dropped); `id`,
/// `event`, `data` fields; a blank line dispatches; `:` lines are comments.
struct SSEParser {
    private var line: [UInt8] = []
    private var id: String?
    private var type: String?
    private var data: [String] = []
    private(set) var comments = 0

    mutating func feed(_ buffer: ByteBuffer) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in buffer.readableBytesView {
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty {
                if type != nil || !data.isEmpty {
                    events.append(SSEEvent(id: id, type: type ?? "message", data: data.joined(separator: "\n")))
                }
                id = nil
                type = nil
                data = []
            } else if line.first == UInt8(ascii: ":") {
                comments += 1
            } else {
                let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
                let name = String(decoding: line[..<colon], as: UTF8.self)
                var valueStart = colon < line.endIndex ? colon + 1 : colon
                if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                let value = String(decoding: line[valueStart...], as: UTF8.self)
                switch name {
                case "id": id = value
                case "event": type = value
                case "data": data.append(value)
                default: break
                }
            }
            line.removeAll(keepingCapacity: true)
        }
        return events
    }
}

/// A finished request: status, body text, and when it was written and when its last byte arrived.
struct HTTPResult: Sendable {
    var status: Int
    var body: String
    var sentAt: UInt64
    var receivedAt: UInt64
}

/// Request/response over one keep-alive connection; requests may be pipelined, responses are
/// matched to them in order. State lives on the channel's event loop.
final class HTTPClientHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    private var parser = HTTPResponseParser()
    private var pending = CircularBuffer<(promise: EventLoopPromise<HTTPResult>, sentAt: UInt64)>()
    private var status = 0
    private var body = ByteBuffer()

    func enqueue(_ promise: EventLoopPromise<HTTPResult>, sentAt: UInt64) { pending.append((promise, sentAt)) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = monotonicNanoseconds()
        do {
            for event in try parser.feed(unwrapInboundIn(data)) { deliver(event, at: now) }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    private func deliver(_ event: HTTPResponseParser.Event, at now: UInt64) {
        switch event {
        case .head(let status, _):
            self.status = status
            body.clear()
        case .body(var bytes):
            body.writeBuffer(&bytes)
        case .end:
            guard let first = pending.popFirst() else { return }
            first.promise.succeed(HTTPResult(status: status, body: String(buffer: body), sentAt: first.sentAt, receivedAt: now))
        }
    }

    private func failAll(_ error: any Error) {
        while let first = pending.popFirst() { first.promise.fail(error) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let now = monotonicNanoseconds()
        for event in parser.close() { deliver(event, at: now) }
        failAll(BenchmarkError(description: "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }
}

/// A keep-alive HTTP/1.1 connection for JSON requests.
final class HTTPConnection: Sendable {
    let channel: any Channel
    let handler: HTTPClientHandler
    let endpoint: HTTPEndpoint

    private init(channel: any Channel, handler: HTTPClientHandler, endpoint: HTTPEndpoint) {
        self.channel = channel
        self.handler = handler
        self.endpoint = endpoint
    }

    static func connect(_ endpoint: HTTPEndpoint, on loop: any EventLoop) async throws -> HTTPConnection {
        let handler = HTTPClientHandler()
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(host: endpoint.host, port: endpoint.port).get()
        return HTTPConnection(channel: channel, handler: handler, endpoint: endpoint)
    }

    /// Sends one request (with a JSON body when given) and waits for its whole response.
    func request(_ method: String, _ path: String, json: String? = nil) async throws -> HTTPResult {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint.hostHeader)\r\n"
        if let json {
            head += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n" + json
        } else {
            head += "\r\n"
        }
        let buffer = channel.allocator.buffer(string: head)
        let promise = channel.eventLoop.makePromise(of: HTTPResult.self)
        let channel = self.channel, handler = self.handler
        channel.eventLoop.execute {
            handler.enqueue(promise, sentAt: monotonicNanoseconds())
            channel.writeAndFlush(buffer).whenFailure { promise.fail($0) }
        }
        return try await promise.futureResult.get()
    }

    func close() { channel.close(promise: nil) }
}

/// One `GET /instances/{id}/stream` connection: parses the chunked SSE body, remembers the
/// instance's last `state`, signals when a wanted state has been seen, and timestamps the event
/// a benchmark is waiting for. All state lives on the channel's event loop.
final class SSEStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    struct Expectation {
        var token: Int
        var type: String
        /// A substring of the event's data that identifies it.
        var needle: String
        var promise: EventLoopPromise<UInt64>
    }

    let instanceId: String
    /// `ready` succeeds once a `state` event with this state arrived.
    let readyState: String
    let ready: EventLoopPromise<Void>

    private var http = HTTPResponseParser()
    private var sse = SSEParser()
    private(set) var status = 0
    private(set) var lastState: String?
    private(set) var events = 0
    private(set) var isOpen = false
    private var readyDone = false
    private var errorBody = ""
    private var expectation: Expectation?

    init(instanceId: String, readyState: String, ready: EventLoopPromise<Void>) {
        self.instanceId = instanceId
        self.readyState = readyState
        self.ready = ready
    }

    var comments: Int { sse.comments }

    /// Waits (via the returned promise) for the next event of `type` whose data contains `needle`.
    func expect(token: Int, type: String, needle: String, promise: EventLoopPromise<UInt64>) {
        expectation?.promise.fail(BenchmarkError(description: "superseded"))
        expectation = Expectation(token: token, type: type, needle: needle, promise: promise)
    }

    /// Fails the expectation `token` if it is still waiting (a timeout).
    func cancelExpectation(token: Int, _ error: any Error) {
        guard let current = expectation, current.token == token else { return }
        expectation = nil
        current.promise.fail(error)
    }

    func failReady(_ error: any Error) {
        guard !readyDone else { return }
        readyDone = true
        ready.fail(error)
    }

    func channelActive(context: ChannelHandlerContext) {
        isOpen = true
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = monotonicNanoseconds()
        do {
            for event in try http.feed(unwrapInboundIn(data)) {
                switch event {
                case .head(let status, _):
                    self.status = status
                case .body(let bytes):
                    if status == 200 {
                        for event in sse.feed(bytes) { handle(event, at: now) }
                    } else {
                        errorBody += String(buffer: bytes)
                    }
                case .end:
                    if status != 200 {
                        failReady(BenchmarkError(description: "stream of \(instanceId) answered \(status): \(errorBody)"))
                    }
                    context.close(promise: nil)
                }
            }
        } catch {
            failReady(error)
            context.close(promise: nil)
        }
    }

    private func handle(_ event: SSEEvent, at now: UInt64) {
        events += 1
        switch event.type {
        case "state":
            lastState = Self.stateValue(event.data)
            if lastState == readyState, !readyDone {
                readyDone = true
                ready.succeed(())
            }
        case "done", "error":
            failReady(BenchmarkError(description: "stream of \(instanceId) ended with \(event.type) \(event.data) (last state \(lastState ?? "none"))"))
        default:
            break
        }
        if let wanted = expectation, event.type == wanted.type, event.data.contains(wanted.needle) {
            expectation = nil
            wanted.promise.succeed(now)
        }
    }

    /// `"state":"running"` → `running`.
    static func stateValue(_ data: String) -> String? {
        guard let range = data.range(of: #""state":""#) else { return nil }
        let rest = data[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    func channelInactive(context: ChannelHandlerContext) {
        isOpen = false
        let error = BenchmarkError(description: "stream of \(instanceId) closed (status \(status), last state \(lastState ?? "none"))")
        failReady(error)
        if let wanted = expectation {
            expectation = nil
            wanted.promise.fail(error)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failReady(error)
        context.close(promise: nil)
    }

    /// Connects and sends the stream request; `ready` tells when the wanted state was seen.
    static func open(
        _ endpoint: HTTPEndpoint, instanceId: String, pollMilliseconds: Int, readyState: String, on loop: any EventLoop
    ) async throws -> (channel: any Channel, handler: SSEStreamHandler) {
        let handler = SSEStreamHandler(instanceId: instanceId, readyState: readyState, ready: loop.makePromise())
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(30))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            handler.ready.fail(error)  // nobody else can complete it: the handler never joined a pipeline
            throw error
        }
        let request = "GET /instances/\(instanceId)/stream?poll_ms=\(pollMilliseconds) HTTP/1.1\r\n"
            + "Host: \(endpoint.hostHeader)\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        try await channel.writeAndFlush(channel.allocator.buffer(string: request)).get()
        return (channel, handler)
    }
}

/// Values of string fields (`"key":"value"`, no escapes inside) of the objects directly inside a
/// top-level JSON array, one dictionary per object; enough for the workers' poll response.
func jsonArrayOfObjectsStringFields(_ text: String) -> [[String: String]] {
    var result: [[String: String]] = []
    var depth = 0
    var inString = false, escaped = false
    var current = ""
    var lastString: String?
    var pendingKey: String?
    var object: [String: String] = [:]
    for character in text {
        if inString {
            if escaped { escaped = false; current.append(character); continue }
            if character == "\\" { escaped = true; continue }
            if character == "\"" {
                inString = false
                if depth == 2 {
                    if let key = pendingKey { object[key] = current; pendingKey = nil } else { lastString = current }
                }
                continue
            }
            current.append(character)
            continue
        }
        switch character {
        case "\"":
            inString = true
            current = ""
        case ":":
            if depth == 2 { pendingKey = lastString; lastString = nil }
        case ",":
            if depth == 2 { pendingKey = nil; lastString = nil }
        case "{", "[":
            depth += 1
            if depth == 2, character == "{" { object = [:] }
            if depth > 2 { pendingKey = nil }
        case "}", "]":
            if depth == 2, character == "}" { result.append(object) }
            depth -= 1
            if depth == 2 { pendingKey = nil; lastString = nil }
        default:
            break
        }
    }
    return result
}
