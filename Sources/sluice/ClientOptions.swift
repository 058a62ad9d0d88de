import ArgumentParser
import AsyncHTTPClient
import Foundation

/// The server and API key of the client commands (`tail`, `approvals`, `approve`).
struct ClientOptions: ParsableArguments {
    @Option(help: "The Sluice server (SLUICE_SERVER).") var server = ProcessInfo.processInfo.environment["SLUICE_SERVER"] ?? "http://127.0.0.1:8080"
    @Option(name: .customLong("api-key"), help: "The API key to send (SLUICE_API_KEY; prefer the variable: flags show in ps).")
    var apiKey: String? = ProcessInfo.processInfo.environment["SLUICE_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }

    /// A request to `path` on the server, with the key when there is one.
    func request(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: server.trimmingSuffix("/") + path)
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        return request
    }
}
