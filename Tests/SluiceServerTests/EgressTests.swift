import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import Testing

/// Issue 11: `http_request` reached loopback, private ranges and cloud metadata, followed
/// redirects anywhere, and kept up to 10 MiB of the answer as the step's output (SSRF that shows
/// its result). Now: refused by default after DNS resolution and on every redirect,
/// SLUICE_HTTP_ALLOW opens hosts and networks, and the body is capped at the output limit.
@Suite struct EgressTests {
    static func upstream() -> (Router<BasicRequestContext>, HitCounter) {
        let hits = HitCounter()
        let router = Router()
        router.get("/ok") { _, _ -> Response in
            _ = hits.next()
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "fine")))
        }
        router.get("/to-metadata") { _, _ -> Response in
            Response(status: .found, headers: [.location: "http://169.254.169.254/latest/meta-data/"])
        }
        router.get("/to-ok") { _, _ -> Response in
            Response(status: .movedPermanently, headers: [.location: "/ok"])
        }
        router.get("/big") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: String(repeating: "x", count: 5000))))
        }
        return (router, hits)
    }

    static func run(_ api: TestAPI, url: String, id: String, client: TestClient) async throws -> JSONValue {
        try await client.post("/sequences", ["id": .string("s-\(id)"), "blocks": [
            ["id": "call", "type": "step", "handler": "http_request", "params": ["url": .string(url)]],
        ]])
        try await client.post("/instances", ["sequence_id": .string("s-\(id)"), "id": .string(id)])
        return try await api.waitUntil(client, id) { ["completed", "failed"].contains($0["state"]?.stringValue ?? "") }
    }

    @Test func loopbackPrivateAndMetadataAreRefusedByDefault() async throws {
        let (router, hits) = Self.upstream()
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "up"))
        try await upstream.test(.live) { live in
            let port = try #require(live.port)
            let api = try await TestAPI.make()
            try await api.run(engine: true) { client in
                for (id, url) in [
                    ("e-1", "http://127.0.0.1:\(port)/ok"), ("e-2", "http://localhost:\(port)/ok"),
                    ("e-3", "http://169.254.169.254/latest/meta-data/"), ("e-4", "http://[::1]:\(port)/ok"), ("e-5", "http://2130706433:\(port)/ok"),
                ] {
                    let done = try await Self.run(api, url: url, id: id, client: client)
                    #expect(done["state"] == "failed", "\(url): \(done)")
                    #expect(done.lookup("error.error")?.stringValue?.contains("refused") == true, "\(url): \(done)")
                    #expect(done.lookup("error.attempts") == 1)  // not retried
                }
                #expect(hits.value == 0)
            }
        }
    }

    @Test func everyRedirectIsCheckedAndTheBodyIsCapped() async throws {
        let (router, hits) = Self.upstream()
        let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "up"))
        try await upstream.test(.live) { live in
            let port = try #require(live.port)
            let api = try await TestAPI.make { $0.httpAllow = try! EgressPolicy(parsing: "127.0.0.1"); $0.contextMaxBytes = 1000 }
            try await api.run(engine: true) { client in
                let followed = try await Self.run(api, url: "http://127.0.0.1:\(port)/to-ok", id: "r-1", client: client)
                #expect(followed["state"] == "completed", "\(followed)")
                #expect(try await client.call(.get, "/instances/r-1/outputs").json.arrayValue?.first?.lookup("output.body") == "fine")
                #expect(hits.value == 1)

                let redirected = try await Self.run(api, url: "http://127.0.0.1:\(port)/to-metadata", id: "r-2", client: client)
                #expect(redirected["state"] == "failed", "\(redirected)")
                #expect(redirected.lookup("error.error")?.stringValue?.contains("169.254.169.254") == true, "\(redirected)")

                let big = try await Self.run(api, url: "http://127.0.0.1:\(port)/big", id: "r-3", client: client)
                #expect(big["state"] == "failed", "\(big)")
                #expect(big.lookup("error.error")?.stringValue?.contains("more than 1000 bytes") == true, "\(big)")
            }
        }
    }
}
