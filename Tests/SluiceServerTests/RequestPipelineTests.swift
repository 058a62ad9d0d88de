import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceCore
import SluiceRedis
import SluiceServer
import SluiceTestSupport
import Testing

/// Sluice's own steps run around every route (`RequestPipeline`, inside each route's responder:
/// `APIRoutes`) and around what matches no route (the same pipeline as a middleware); their order
/// shows in the answers: a console page's error is a page (the API's JSON when asked for it), the
/// body limit is applied before the route reads a body, and while the process drains every answer
/// carries `Connection: close`, errors and error pages included.
@Suite struct RequestPipelineTests {
    @Test func consoleErrorsArePagesOrJSONAndEveryAnswerCarriesTheDrainHeader() async throws {
        try await ShutdownDrainTests.withDrainableApplication("pipeline", console: true) { client, drain, configuration in
            let limit = Limits(configuration).bodyBytes
            for draining in [false, true] {
                if draining { drain.begin() }
                let close: String? = draining ? "close" : nil
                // A console page that fails: an HTML page with the API's status and message.
                try await client.execute(uri: "/console/instances/no-such-instance", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                    #expect(String(buffer: response.body).contains("instance not found"))
                    #expect(response.headers[.connection] == close)
                }
                // The console's scripts ask for JSON and get the API's error body.
                try await client.execute(uri: "/console/instances/no-such-instance", method: .get, headers: [.accept: "application/json"]) { response in
                    #expect(response.status == .notFound)
                    let body = try? JSONValue.parse(Array(buffer: response.body))
                    #expect(body?["code"] == "not_found" && body?["error"] == "instance not found", "\(String(describing: body))")
                    #expect(response.headers[.connection] == close)
                }
                // The API's errors stay JSON: an unknown route, and a body over the limit (413,
                // refused by the limit the pipeline set, not by the route).
                try await client.execute(uri: "/no-such-route", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect((try? JSONValue.parse(Array(buffer: response.body)))?["code"] == "not_found")
                    #expect(response.headers[.connection] == close)
                }
                // A known path with a method it does not have matches no route either.
                try await client.execute(uri: "/healthz", method: .delete) { response in
                    #expect(response.status == .notFound)
                    #expect((try? JSONValue.parse(Array(buffer: response.body)))?["code"] == "not_found")
                    #expect(response.headers[.connection] == close)
                }
                let tooLarge = ByteBuffer(string: #"{"id":"x","blocks":[],"pad":""# + String(repeating: "a", count: limit) + #""}"#)
                try await client.execute(uri: "/sequences", method: .post, headers: [.contentType: "application/json"], body: tooLarge) { response in
                    #expect(response.status == .contentTooLarge)
                    #expect((try? JSONValue.parse(Array(buffer: response.body)))?["code"] == "payload_too_large")
                    #expect(response.headers[.connection] == close)
                }
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.connection] == close)
                }
            }
        }
    }
}
