import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCore

/// `sluice approvals`: the approvals queue as a table, in queue order.
struct ApprovalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List the approvals queue (soonest deadline first).")

    @Option(help: "Only this tenant's items.") var tenant: String?
    @Option(help: "Only this namespace's items.") var namespace: String?
    @Option(help: "How many items (1-1000).") var limit = 100
    @OptionGroup var client: ClientOptions

    func run() async throws {
        var query = ["limit=\(limit)"]
        if let tenant { query.append("tenant_id=\(tenant)") }
        if let namespace { query.append("namespace=\(namespace)") }
        let page = try await APICall.send(client, method: .GET, path: "/approvals?" + query.joined(separator: "&"))
        let items = page["items"]?.arrayValue ?? []
        printLine(Self.table(items, total: page["total"]?.numberValue.flatMap { Int(exactly: $0) } ?? items.count))
    }

    /// A plain-text table: one row per item, columns sized to their content.
    static func table(_ items: [JSONValue], total: Int) -> String {
        guard !items.isEmpty else { return "No approvals waiting." }
        let header = ["INSTANCE", "BLOCK", "TENANT", "NAMESPACE", "DEADLINE", "ESCALATED", "CHOICES", "PROMPT"]
        let rows = items.map { item -> [String] in
            func text(_ key: String) -> String { item[key]?.stringValue ?? "-" }
            let choices = (item["choices"]?.arrayValue ?? []).compactMap { $0["value"]?.stringValue }.joined(separator: "/")
            let prompt = text("prompt")
            return [text("instance_id"), text("block_id"), text("tenant_id"), text("namespace"), text("deadline"),
                    item["escalated_at"]?.stringValue == nil ? "-" : "yes", choices, prompt.count > 60 ? prompt.prefix(57) + "..." : prompt]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        let lines = ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        let footer = total > items.count ? "\n(\(items.count) of \(total); use --limit for more)" : ""
        return lines.joined(separator: "\n") + footer
    }
}

/// `sluice approve <instance> <block> <value>`: decides a gate (a human_input signal).
struct ApproveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Decide an approval gate with one of its choice values.")

    @Argument(help: "The instance id.") var instance: String
    @Argument(help: "The human_input block id.") var block: String
    @Argument(help: "The chosen value (one of the gate's choices).") var value: String
    @Option(help: "A note kept in the decision's payload.") var note: String?
    @OptionGroup var client: ClientOptions

    func run() async throws {
        var payload: [String: JSONValue] = ["value": .string(value)]
        if let note { payload["note"] = .string(note) }
        let body = JSONValue.object(["signal_type": .string("human_input:\(block)"), "payload": .object(payload)])
        let reply = try await APICall.send(client, method: .POST, path: "/instances/\(instance)/signals", body: body)
        printLine(reply["status"]?.stringValue == "queued"
            ? "queued: \(instance) has not reached \(block) yet; the decision applies when it does"
            : "decided: \(instance) \(block) = \(value)")
    }
}

/// One JSON call to the API for the CLI: the body, or the server's error printed and exit 1.
enum APICall {
    static func send(_ client: ClientOptions, method: HTTPMethod, path: String, body: JSONValue? = nil) async throws -> JSONValue {
        var request = client.request(path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            printLine("sluice: cannot reach \(client.server): \(error)", to: .standardError)
            throw ExitCode(5)
        }
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let json = (try? JSONValue.parse(bytes.readableBytesView)) ?? .null
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = json["error"]?.stringValue ?? String(buffer: bytes)
            printLine("sluice: \(response.status.code) \(message)", to: .standardError)
            throw ExitCode(1)
        }
        return json
    }
}
