import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SluiceCore
import SluiceRedis
@testable import SluiceServer
import SluiceTestSupport
import Testing

/// The console's server side: sign-in and its cookie, CSRF on every write, what each role sees,
/// escaping of hostile content, and that its writes are the API's scripts (decisions, signals,
/// restores). The browser tests (Tests/browser) drive the same pages in Chromium.
@Suite struct ConsoleTests {
    /// A gate between two steps, with a prompt and metadata taken from the instance.
    static func sequence(_ id: String = "console-seq", tenant: String? = nil) -> JSONValue {
        var sequence: [String: JSONValue] = [
            "id": .string(id), "name": "Console <b>test</b>", "blocks": [
                ["id": "prepare", "type": "step", "handler": "set_context", "params": ["prepared": true]],
                ["id": "review", "type": "human_input", "prompt": "Approve {{context.purpose}}?",
                 "choices": [["label": "Approve", "value": "approved"], ["label": "Reject", "value": "rejected"]],
                 "store_as": "decision", "timeout_seconds": 3600],
                ["id": "after", "type": "step", "handler": "set_context", "params": ["done": true]],
            ],
        ]
        if let tenant { sequence["tenant_id"] = .string(tenant) }
        return .object(sequence)
    }

    static func waitingInstance(_ api: TestAPI, _ client: TestClient, id: String, sequence: String = "console-seq", purpose: String = "Q1",
                                tenant: String? = nil, metadata: JSONValue = ["requester": "alice@company.com"]) async throws {
        var body: [String: JSONValue] = ["sequence_id": .string(sequence), "id": .string(id), "context": ["purpose": .string(purpose)], "metadata": metadata]
        if let tenant { body["tenant_id"] = .string(tenant) }
        let created = try await client.post("/instances", .object(body))
        #expect(created.status == .created, "\(created.json)")
        let instance = try await api.waitFor(client, id, state: "waiting")
        #expect(instance["state"] == "waiting")
    }

    static func keyedAPI() async throws -> TestAPI { try await AccessKeys.api() }

    static func openAPI() async throws -> TestAPI {
        var api = try await TestAPI.make()
        api.apiKeys = .open()
        return api
    }

    // MARK: sign-in

    @Test func signInExchangesTheKeyForAStrictHttpOnlySessionKeptInRedis() async throws {
        let api = try await Self.keyedAPI()
        try await api.run(console: true) { client in
            let browser = ConsoleBrowser(client)
            let away = try await browser.request(.get, "/console/approvals")
            #expect(away.status == .seeOther && away.location == "/console/sign-in")

            let form = try await browser.request(.get, "/console/sign-in")
            #expect(form.status == .ok)
            let preSession = try #require(browser.setCookieLines["sluice_csrf"])
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] { #expect(preSession.contains(flag), "\(preSession)") }
            #expect(form.csrf == browser.cookies["sluice_csrf"])
            #expect(form.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)

            let key = AccessKeys.key("approver-acme").secret
            let signedIn = try await browser.request(.post, "/console/sign-in", form: [("csrf", form.csrf ?? ""), ("key", key)])
            #expect(signedIn.status == .seeOther && signedIn.location == "/console")
            let line = try #require(browser.setCookieLines["sluice_session"])
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=\(ConsoleSessionStore.ttlSeconds)"] {
                #expect(line.contains(flag), "\(line)")
            }
            #expect(!line.contains(key) && signedIn.location?.contains(key) == false)
            let token = try #require(browser.cookies["sluice_session"])
            #expect(ConsoleSessionStore.isWellFormed(token))

            // Server-side: named by the token's digest, holding neither the token nor the key, expiring.
            let redisKey = api.keys.consoleSession(ConsoleSessionStore.digest(token))
            let stored = try #require(try await api.redis.execute(RedisCommand("GET", redisKey)).string)
            #expect(!stored.contains(token) && !stored.contains(key))
            let ttl = try #require(try await api.redis.execute(RedisCommand("TTL", redisKey)).int)
            #expect(ttl > 0 && ttl <= ConsoleSessionStore.ttlSeconds)

            let inbox = try await browser.request(.get, "/console/approvals")
            #expect(inbox.status == .ok)
            #expect(inbox.text.contains("approver-acme (approver, tenant acme)"))
            #expect(!inbox.text.contains(key))

            // Signing out ends the session in Redis, not only in the browser.
            let out = try await browser.request(.post, "/console/sign-out", form: [("csrf", inbox.csrf ?? "")])
            #expect(out.status == .seeOther && out.location == "/console/sign-in")
            #expect(try await api.redis.execute(RedisCommand("EXISTS", redisKey)) == .integer(0))
            browser.cookies["sluice_session"] = token  // a copy of the old cookie is worth nothing
            #expect(try await browser.request(.get, "/console/approvals").location == "/console/sign-in")
        }
    }

    @Test func signInRefusesUnknownKeysWorkerKeysAndForgedForms() async throws {
        let api = try await Self.keyedAPI()
        try await api.run(console: true) { client in
            let browser = ConsoleBrowser(client)
            let unknown = try await browser.signIn("no-such-key-0123456789")
            #expect(unknown.status == .unauthorized && unknown.text.contains("not known"))
            let worker = try await browser.signIn(AccessKeys.key("worker").secret)
            #expect(worker.status == .forbidden && worker.text.contains("workers have no console"))
            #expect(browser.cookies["sluice_session"] == nil)
            // Without the pre-session token (a form posted from elsewhere): refused before the key is looked at.
            let forged = try await browser.request(.post, "/console/sign-in", form: [("key", AccessKeys.key("admin").secret)])
            #expect(forged.status == .forbidden && forged.text.contains("CSRF"))
            let tooLong = try await browser.request(.post, "/console/sign-in", form: [("csrf", browser.cookies["sluice_csrf"] ?? ""), ("key", String(repeating: "k", count: 600))])
            #expect(tooLong.status == .badRequest && tooLong.text.contains("longer than 512"))
        }
    }

    /// Behind an HTTPS proxy (X-Forwarded-Proto: https, as deploy/nginx.conf sends) the cookies are also Secure.
    @Test func cookiesAreSecureBehindHTTPS() async throws {
        let api = try await Self.keyedAPI()
        try await api.run(console: true) { client in
            let browser = ConsoleBrowser(client)
            var https = HTTPFields()
            https[HTTPField.Name("X-Forwarded-Proto")!] = "https"
            let form = try await browser.request(.get, "/console/sign-in", headers: https)
            #expect(browser.setCookieLines["sluice_csrf"]?.contains("Secure") == true)
            let signedIn = try await browser.request(.post, "/console/sign-in", form: [("csrf", form.csrf ?? ""), ("key", AccessKeys.key("ops").secret)], headers: https)
            #expect(signedIn.status == .seeOther)
            #expect(browser.setCookieLines["sluice_session"]?.contains("Secure") == true)
            // Plain HTTP (development): not Secure, or the browser would drop it.
            let plain = ConsoleBrowser(client)
            try await plain.signIn(AccessKeys.key("ops").secret)
            #expect(plain.setCookieLines["sluice_session"]?.contains("Secure") == false)
        }
    }

    /// A key removed from the keys file (re-read on SIGHUP) ends the sessions opened with it at once.
    @Test func aSessionEndsWithItsKey() async throws {
        var api = try await Self.keyedAPI()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("console-keys-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let both = #"[{"name": "ops", "key": "ops-key-0123456789abcdef", "role": "operator"}, {"name": "admin", "key": "admin-key-0123456789abcdef", "role": "admin"}]"#
        try both.write(to: file, atomically: true, encoding: .utf8)
        let ring = try APIKeyRing.load(path: file.path)
        api.apiKeys = ring
        try await api.run(console: true) { client in
            let browser = ConsoleBrowser(client)
            try await browser.signIn("ops-key-0123456789abcdef")
            #expect(try await browser.request(.get, "/console/instances").status == .ok)
            try #"[{"name": "admin", "key": "admin-key-0123456789abcdef", "role": "admin"}]"#.write(to: file, atomically: true, encoding: .utf8)
            #expect(ring.reload(logger: Logger(label: "test")) == nil)
            #expect(try await browser.request(.get, "/console/instances").location == "/console/sign-in")
        }
    }

    // MARK: CSRF

    @Test func everyConsoleWriteRefusesAMissingWrongOrCrossSiteToken() async throws {
        let api = try await Self.keyedAPI()
        let writes = buildRouter(ServerDependencies(configuration: api.configuration, redis: api.redis, apiKeys: api.apiKeys, console: true)).routes
            .filter { $0.method == .post && $0.path.description.hasPrefix("/console") }
            .map(\.path.description)
        #expect(Set(writes) == [
            "/console/sign-in", "/console/sign-out", "/console/approvals/{id}/{block_id}", "/console/instances/{id}/signals",
            "/console/instances/{id}/checkpoints/{checkpoint_id}/restore",
        ])
        try await api.run(engine: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "csrf-1")
            let checkpoint = try await client.post("/instances/csrf-1/checkpoints", ["checkpoint_data": ["n": 1]]).json["id"]?.stringValue ?? ""
            let browser = ConsoleBrowser(client)
            try await browser.signIn(AccessKeys.key("admin").secret)
            let token = try #require(try await browser.request(.get, "/console/approvals").csrf)
            let paths = writes.map {
                $0.replacingOccurrences(of: "{id}", with: "csrf-1").replacingOccurrences(of: "{block_id}", with: "review")
                    .replacingOccurrences(of: "{checkpoint_id}", with: checkpoint)
            }
            for path in paths {
                let fields: [(String, String)] = path.hasSuffix("/signals") ? [("signal", "pause")] : path.contains("/approvals/") ? [("value", "approved")]
                    : path.hasSuffix("/restore") ? [("confirm", "yes")] : path.hasSuffix("sign-in") ? [("key", AccessKeys.key("admin").secret)] : []
                let missing = try await browser.request(.post, path, form: fields)
                #expect(missing.status == .forbidden && missing.text.contains("CSRF"), "\(path) without a token: \(missing.status)")
                let wrong = try await browser.request(.post, path, form: fields + [("csrf", String(repeating: "0", count: 64))])
                #expect(wrong.status == .forbidden, "\(path) with a wrong token: \(wrong.status)")
                var crossSite = HTTPFields()
                crossSite[.origin] = "https://evil.example"
                let forged = try await browser.request(.post, path, form: fields + [("csrf", token)], headers: crossSite)
                #expect(forged.status == .forbidden && forged.text.contains("cross-site"), "\(path) from another origin: \(forged.status)")
            }
            // Nothing of it happened.
            let instance = try await client.call(.get, "/instances/csrf-1").json
            #expect(instance["state"] == "waiting" && instance["decisions"] == [])
            // The same forms with the page's token work.
            let decided = try await browser.request(.post, "/console/approvals/csrf-1/review", form: [("csrf", token), ("value", "approved")])
            #expect(decided.status == .seeOther && decided.location == "/console/approvals?decided=csrf-1")
            let decisions = try await client.call(.get, "/instances/csrf-1").json["decisions"]
            #expect(decisions?.arrayValue?.first?["decided_by"] == "admin")
            #expect(decisions?.arrayValue?.first?["value"] == "approved")
        }
    }

    @Test func hostileFormsAreRefusedWithClearErrors() throws {
        let allowed: Set<String> = ["csrf", "value", "note"]
        #expect(throws: APIError.self) { try ConsoleForm.parse("value=a&value=b", allowed: allowed) }
        #expect(throws: APIError.self) { try ConsoleForm.parse("other=1", allowed: allowed) }
        #expect(throws: APIError.self) { try ConsoleForm.parse("value=%zz", allowed: allowed) }
        let form = try ConsoleForm.parse("value=a+b%21&note=line%0Aline", allowed: allowed)
        #expect(try form.required("value", maxLength: 10) == "a b!")
        #expect(throws: APIError.self) { try form.required("value", maxLength: 3) }
        #expect(throws: APIError.self) { try form.required("note", maxLength: 100) }  // a newline where none is allowed
        #expect(try form.optional("note", maxLength: 100, multiline: true) == "line\nline")
        #expect(throws: APIError.self) { try ConsoleForm.parse("value=%00", allowed: allowed).required("value", maxLength: 5) }
        #expect(throws: APIError.self) { try form.required("csrf", maxLength: 64) }
        // Origins are compared by host name (a proxy may drop the port from Host).
        #expect(ConsoleCSRF.hostName("Example.com:8080") == "example.com")
        #expect(ConsoleCSRF.hostName("[::1]:80") == "[::1]" && ConsoleCSRF.hostName("[::1]") == "[::1]")
        #expect(ConsoleCSRF.hostName("evil.example") == "evil.example")
    }

    // MARK: roles

    @Test func theRoleDecidesWhatIsShown() async throws {
        let api = try await Self.keyedAPI()
        try await api.run(engine: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "role-acme", purpose: "acme thing", tenant: "acme")
            try await Self.waitingInstance(api, client, id: "role-globex", purpose: "globex thing", tenant: "globex")

            let approver = ConsoleBrowser(client)
            try await approver.signIn(AccessKeys.key("approver-acme").secret)
            #expect(try await approver.request(.get, "/console").location == "/console/approvals")
            let inbox = try await approver.request(.get, "/console/approvals")
            #expect(inbox.text.contains("Approve acme thing?") && !inbox.text.contains("globex thing"))
            // The live view starts where the streams were when the list was read.
            #expect(inbox.text.contains(#"data-stream="/console/approvals/stream?tenant_id=acme&amp;last_event_id="#))
            #expect(!inbox.text.contains("href=\"/console/instances"))  // no instances link, no instance links
            for path in ["/console/instances", "/console/instances/role-acme", "/console/instances/role-acme/checkpoints"] {
                #expect(try await approver.request(.get, path).status == .forbidden, "\(path)")
            }
            #expect(try await approver.request(.get, "/console/approvals?tenant_id=globex").status == .forbidden)

            let operatorBrowser = ConsoleBrowser(client)
            try await operatorBrowser.signIn(AccessKeys.key("ops-acme").secret)
            #expect(try await operatorBrowser.request(.get, "/console").location == "/console/instances")
            let list = try await operatorBrowser.request(.get, "/console/instances")
            #expect(list.text.contains("role-acme") && !list.text.contains("role-globex"))
            #expect(try await operatorBrowser.request(.get, "/console/instances/role-acme").status == .ok)
            // Another tenant's instance is not found, never forbidden (as in the API).
            #expect(try await operatorBrowser.request(.get, "/console/instances/role-globex").status == .notFound)
            let operatorInbox = try await operatorBrowser.request(.get, "/console/approvals")
            #expect(operatorInbox.text.contains("href=\"/console/instances/role-acme\""))

            // A worker key sent as a header reaches no page.
            var header = HTTPFields()
            header[.authorization] = "Bearer \(AccessKeys.key("worker").secret)"
            #expect(try await ConsoleBrowser(client).request(.get, "/console/approvals", headers: header).status == .forbidden)
        }
    }

    @Test func everyConsoleRouteHasAnAccessRule() async throws {
        let api = try await TestAPI.make()
        defer { api.redis.shutdown() }
        let routes = buildRouter(ServerDependencies(configuration: api.configuration, redis: api.redis, console: true)).routes
            .map { "\($0.method.rawValue) \($0.path)" }.filter { $0.contains(" /console") }
        #expect(routes.count == 14)
        for route in routes { #expect(RouteAccess.table[route] != nil, "no access rule for \(route)") }
    }

    // MARK: escaping

    @Test func hostileContentIsEscapedOnEveryPage() async throws {
        let api = try await Self.openAPI()
        let hostile = #"<script>alert("x")</script><img src=x onerror=alert(1)>'"&"#
        try await api.run(engine: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "xss-1", purpose: hostile, metadata: ["note": .string(hostile), .init(stringLiteral: hostile): 1])
            #expect(try await client.post("/instances/xss-1/checkpoints", ["checkpoint_data": ["evil": .string(hostile)]]).status == .created)
            #expect(try await client.post("/instances/xss-1/checkpoints", ["checkpoint_data": [.init(stringLiteral: hostile): .string(hostile)]]).status == .created)
            let browser = ConsoleBrowser(client)
            for path in ["/console/approvals", "/console/instances", "/console/instances/xss-1", "/console/instances/xss-1/checkpoints"] {
                let page = try await browser.request(.get, path)
                #expect(page.status == .ok, "\(path)")
                #expect(!page.text.contains("<script>alert"), "\(path) has the script unescaped")
                #expect(!page.text.contains("<img src=x"), "\(path) has the image unescaped")
                #expect(!page.text.contains("<b>test</b>"), "\(path) has the sequence name unescaped")
                #expect(page.text.contains("&lt;script&gt;alert(") || path == "/console/instances", "\(path) does not show the text")
            }
            let inbox = try await browser.request(.get, "/console/approvals")
            #expect(inbox.text.contains("Approve &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#39;&quot;&amp;?"))
            // Error pages escape what they repeat, too.
            let error = try await browser.request(.get, "/console/approvals?namespace=%3Cscript%3E")
            #expect(error.status == .badRequest && !error.text.contains("<script>"))
        }
    }

    @Test func everyTemplateParses() throws {
        if case .failure(let error) = ConsoleTemplates.library { Issue.record("templates do not parse: \(error)") }
        #expect(ConsoleTemplates.names == [
            "approval-item", "approvals", "checkpoints", "confirm-restore", "error", "instance", "instances", "layout", "sign-in",
        ])
        #expect(EmbeddedConsoleFiles.all["assets/console.js"]?.contains("EventSource") == true)
        #expect(EmbeddedConsoleFiles.all["assets/console.css"]?.isEmpty == false)
    }

    // MARK: decisions, signals, restores: the API's scripts

    @Test func decisionsReportLostRacesAndInvalidChoices() async throws {
        let api = try await Self.openAPI()
        try await api.run(engine: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "race-1")
            let browser = ConsoleBrowser(client)
            let token = try #require(try await browser.request(.get, "/console/approvals").csrf)

            var json = HTTPFields()
            json[.accept] = "application/json"
            let invalid = try await browser.request(.post, "/console/approvals/race-1/review", form: [("csrf", token), ("value", "maybe")], headers: json)
            #expect(invalid.status == .unprocessableContent)
            let answer = try JSONValue.parse(Array(invalid.text.utf8))
            #expect(answer["outcome"] == "invalid")
            #expect(answer["message"]?.stringValue?.contains("must be one of: approved, rejected") == true, "\(answer)")
            #expect(try await client.call(.get, "/instances/race-1").json["state"] == "waiting")

            // Somebody else decides first (through the API) …
            #expect(try await client.post("/instances/race-1/signals", ["signal_type": "human_input:review", "payload": ["decision": "approved"]]).status == .ok)
            // … the console's answer says who and when, with the script's JSON and without it.
            let lost = try await browser.request(.post, "/console/approvals/race-1/review", form: [("csrf", token), ("value", "rejected")], headers: json)
            #expect(lost.status == .conflict)
            let message = try JSONValue.parse(Array(lost.text.utf8))["message"]?.stringValue ?? ""
            #expect(message.hasPrefix("Already approved by anonymous ") && message.hasSuffix(" s ago."), "\(message)")
            let page = try await browser.request(.post, "/console/approvals/race-1/review", form: [("csrf", token), ("value", "rejected")])
            #expect(page.status == .conflict && page.text.contains("Already approved by anonymous"))
            // A note is kept with the decision's payload (the gate's output).
            try await Self.waitingInstance(api, client, id: "note-1")
            let noted = try await browser.request(.post, "/console/approvals/note-1/review", form: [("csrf", token), ("value", "rejected"), ("note", "over budget")])
            #expect(noted.status == .seeOther)
            let outputs = try await client.call(.get, "/instances/note-1/outputs").json.arrayValue ?? []
            #expect(outputs.contains { $0["block_id"] == "review" && $0["output"] == ["value": "rejected", "note": "over budget"] })
        }
    }

    @Test func instanceSignalsAndCheckpointRestoreGoThroughTheStores() async throws {
        let api = try await Self.openAPI()
        try await api.run(engine: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "ctl-1")
            let browser = ConsoleBrowser(client)
            let page = try await browser.request(.get, "/console/instances/ctl-1")
            #expect(page.status == .ok && page.text.contains(#"data-last-event-id=""#) && page.text.contains("state waiting"))
            let token = try #require(page.csrf)

            let paused = try await browser.request(.post, "/console/instances/ctl-1/signals", form: [("csrf", token), ("signal", "pause")])
            #expect(paused.status == .seeOther && paused.location == "/console/instances/ctl-1?done=pause")
            #expect(try await client.call(.get, "/instances/ctl-1").json["state"] == "paused")
            let illegal = try await browser.request(.post, "/console/instances/ctl-1/signals", form: [("csrf", token), ("signal", "pause")])
            #expect(illegal.status == .conflict)
            let unknown = try await browser.request(.post, "/console/instances/ctl-1/signals", form: [("csrf", token), ("signal", "update_context")])
            #expect(unknown.status == .badRequest && unknown.text.contains("cancel, pause, resume"))
            #expect(try await browser.request(.post, "/console/instances/ctl-1/signals", form: [("csrf", token), ("signal", "resume")]).status == .seeOther)
            _ = try await api.waitFor(client, "ctl-1", state: "waiting")

            let first = try await client.post("/instances/ctl-1/checkpoints", ["checkpoint_data": ["step": 1]]).json["id"]?.stringValue ?? ""
            #expect(try await client.post("/instances/ctl-1/signals", ["signal_type": "human_input:review", "payload": ["value": "approved"]]).status == .ok)
            _ = try await api.waitFor(client, "ctl-1", state: "completed")
            let second = try await client.post("/instances/ctl-1/checkpoints", ["checkpoint_data": ["step": 2]]).json["id"]?.stringValue ?? ""

            let list = try await browser.request(.get, "/console/instances/ctl-1/checkpoints")
            #expect(list.status == .ok && list.text.contains(first) && list.text.contains(second))
            #expect(list.text.contains(#"<tr class="diff-added"><td class="mono">decision</td>"#), "the diff shows the decision added")
            #expect(list.text.contains(#"<tr class="diff-added"><td class="mono">done</td>"#))
            #expect(try await browser.request(.get, "/console/instances/ctl-1/checkpoints?from=\(first)&to=nope").status == .notFound)

            // Without the confirmation: a page that asks, and nothing restored.
            let ask = try await browser.request(.post, "/console/instances/ctl-1/checkpoints/\(first)/restore", form: [("csrf", token)])
            #expect(ask.status == .ok && ask.text.contains("Yes, restore to this checkpoint"))
            #expect(try await client.call(.get, "/instances/ctl-1").json["state"] == "completed")
            let restored = try await browser.request(.post, "/console/instances/ctl-1/checkpoints/\(first)/restore", form: [("csrf", token), ("confirm", "yes")])
            #expect(restored.status == .seeOther && restored.location == "/console/instances/ctl-1?done=restore")
            let instance = try await api.waitFor(client, "ctl-1", state: "waiting")
            #expect(instance["current_block"] == "review" && instance["context"]?["decision"] == nil)
            let after = try await browser.request(.get, "/console/instances/ctl-1?done=restore")
            #expect(after.text.contains("Restored from the checkpoint") && after.text.contains("output of _restore"))

            let cancelled = try await browser.request(.post, "/console/instances/ctl-1/signals", form: [("csrf", token), ("signal", "cancel")])
            #expect(cancelled.status == .seeOther)
            #expect(try await client.call(.get, "/instances/ctl-1").json["state"] == "cancelled")
            #expect(try await browser.request(.get, "/console/instances/nope-1").status == .notFound)
        }
    }

    @Test func theConsoleStreamsAreTheAPIStreamsBehindTheSession() async throws {
        let api = try await Self.keyedAPI()
        try await api.run(engine: true, live: true, console: true) { client in
            #expect(try await client.post("/sequences", Self.sequence()).status == .created)
            try await Self.waitingInstance(api, client, id: "stream-1")
            #expect(try await client.post("/instances/stream-1/signals", ["signal_type": "cancel"]).status == .ok)
            let browser = ConsoleBrowser(client)
            #expect(try await browser.request(.get, "/console/instances/stream-1/stream").location == "/console/sign-in")
            try await browser.signIn(AccessKeys.key("admin").secret)
            let stream = try await browser.request(.get, "/console/instances/stream-1/stream?last_event_id=0-0")
            #expect(stream.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            #expect(stream.text.contains("event: state") && stream.text.contains("event: done"))
        }
    }

    // MARK: pieces

    @Test func diffsAndTimes() throws {
        let before: JSONValue = ["a": 1, "b": ["c": "x", "d": [1, 2]], "gone": true]
        let after: JSONValue = ["a": .number(1.0), "b": ["c": "y", "d": [1, 2]], "new": .null]
        #expect(ConsoleJSON.diff(before, after).map { "\($0.kind.rawValue) \($0.path)" } == ["changed b.c", "removed gone", "added new"])
        #expect(ConsoleJSON.diff([1], [2]).map(\.path) == ["(root)"])
        #expect(ConsoleJSON.pretty(["b": [1, ["c": "<"]], "a": [:]]) == "{\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"c\": \"<\"\n    }\n  ]\n}")
        #expect(ConsoleTime.milliseconds("2024-01-15T09:00:00.000Z") == 1_705_309_200_000)
        #expect(ConsoleTime.milliseconds("2024-02-29T23:59:59.5Z") == 1_709_251_199_500)
        #expect(ConsoleTime.milliseconds("not a time") == nil)
        #expect(ConsoleTime.until(1000 + 3_723_000, now: 1000) == "in 1 h 2 min")
        #expect(ConsoleTime.ago(0, now: 3000) == "3 s ago")
        #expect(ConsoleTime.until(0, now: 120_000) == "overdue by 2 min")
    }
}
