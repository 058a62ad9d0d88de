import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import NIOConcurrencyHelpers
import Testing

/// The `http_request` built-in against a real HTTP server: JSON bodies decoded, templates in
/// the URL, 5xx retried with backoff.
@Suite struct HTTPRequestHandlerTests {
    @Test func callsAnEndpointDecodesJSONAndRetries5xx() async throws {
        let hits = HitCounter()
        let router = Router()
        router.get("/expenses/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"id":"\#(id)","amount":12.5}"#)))
        }
        router.post("/flaky") { _, _ -> Response in
            let n = hits.next()
            return Response(status: n < 2 ? .serviceUnavailable : .ok, body: .init(byteBuffer: ByteBuffer(string: "try \(n)")))
        }
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "upstream"))
        try await upstream.test(.live) { live in
            let port = try #require(live.port)
            let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1") }
            try await api.run(engine: true) { client in
                try await client.post("/sequences", ["id": "http", "blocks": [
                    ["id": "fetch", "type": "step", "handler": "http_request",
                     "params": ["method": "GET", "url": .string("http://127.0.0.1:\(port)/expenses/{{context.expense_id}}")]],
                    ["id": "flaky", "type": "step", "handler": "http_request",
                     "params": ["method": "POST", "url": .string("http://127.0.0.1:\(port)/flaky"), "body": ["amount": "{{outputs.fetch.body.amount}}"]],
                     "retry": ["max_attempts": 3, "backoff_ms": 50]],
                ]])
                try await client.post("/instances", ["sequence_id": "http", "id": "h-1", "context": ["expense_id": "e-7"]])
                let done = try await api.waitFor(client, "h-1", state: "completed")
                #expect(done["state"] == "completed")
                let outputs = try await client.call(.get, "/instances/h-1/outputs").json.arrayValue ?? []
                #expect(outputs.first?.lookup("output.status") == 200)
                #expect(outputs.first?.lookup("output.body") == ["id": "e-7", "amount": .number(12.5)])
                #expect(outputs.first?.lookup("output.headers.content-type") == "application/json")
                #expect(outputs.last?.lookup("output.body") == "try 2")  // two 503s, then success
                #expect(hits.value == 3)
            }
        }
    }
}

final class HitCounter: Sendable {
    private let count = NIOLockedValueBox(0)
    func next() -> Int { count.withLockedValue { value in defer { value += 1 }; return value } }
    var value: Int { count.withLockedValue { $0 } }
}
