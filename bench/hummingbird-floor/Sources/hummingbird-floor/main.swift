import Hummingbird

// GET /bench/noop answering what sluice's does, on 127.0.0.1:$SLUICE_PORT.
let router = Router()
router.get("/bench/noop") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"ok":true}"#))) }
let port = Int(Environment().get("SLUICE_PORT") ?? "") ?? 8080
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hummingbird-floor"))
try await app.runService()
