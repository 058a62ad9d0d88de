import SluiceCore
import SluiceServer
import Testing

/// `SLUICE_API_KEYS_FILE`: what is accepted, and every refusal naming the entry (never the key).
@Suite struct APIKeyFileTests {
    static func parse(_ text: String) throws(APIKeyFile.Failure) -> [APIKey] { try APIKeyFile.parse(Array(text.utf8)) }

    @Test func rolesTenantsHandlersAndHashedKeys() throws {
        let keys = try Self.parse(#"""
            [{"name": "a", "key": "a-key-0123456789abc", "role": "admin"},
             {"name": "w", "key_sha256": "\#(String(repeating: "ab", count: 32))", "role": "worker", "tenant": "t1", "handlers": ["pay", "ship"]},
             {"name": "p", "key": "CHANGE-ME-placeholder-000", "role": "approver", "tenant": null}]
            """#)
        #expect(keys.map(\.principal) == [
            Principal(name: "a", role: .admin), Principal(name: "w", role: .worker, tenant: "t1", handlers: ["pay", "ship"]),
            Principal(name: "p", role: .approver),
        ])
        #expect(keys[1].digest == Array(repeating: 0xAB, count: 32))
        #expect(keys.map(\.isPlaceholder) == [false, false, true])
        let ring = APIKeyRing(path: "x", keys: keys)
        #expect(ring.authenticate("a-key-0123456789abc".utf8)?.name == "a")
        #expect(ring.authenticate("a-key-0123456789abd".utf8) == nil)
        #expect(ring.placeholderNames == ["p"])
    }

    @Test(arguments: [
        (#"{"name": "a"}"#, "must be a JSON list"),
        ("[]", "has no keys"),
        ("[1,]", "is not valid JSON"),
        (#"[{"key": "k-0123456789abcdef", "role": "admin"}]"#, "entry 0: name is required"),
        (#"[{"name": "a", "key": "short", "role": "admin"}]"#, #"entry 0 ("a"): key must be at least 16"#),
        (#"[{"name": "a", "role": "admin"}]"#, #"entry 0 ("a"): exactly one of key or key_sha256"#),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "key_sha256": "00", "role": "admin"}]"#, "exactly one of key or key_sha256"),
        (#"[{"name": "a", "key_sha256": "xyz", "role": "admin"}]"#, "key_sha256 must be 64 hex digits"),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "role": "root"}]"#, "role must be one of admin, operator, approver, worker"),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "role": "admin", "tennant": "x"}]"#, "unknown field 'tennant'"),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "role": "admin", "handlers": ["x"]}]"#, "handlers are only for keys of role worker"),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "role": "admin"}, {"name": "a", "key": "k-0123456789abcdeX", "role": "admin"}]"#,
         #"entry 1 ("a"): the name is used by an earlier entry"#),
        (#"[{"name": "a", "key": "k-0123456789abcdef", "role": "admin"}, {"name": "b", "key": "k-0123456789abcdef", "role": "admin"}]"#,
         #"entry 1 ("b"): the same key as an earlier entry"#),
    ])
    func mistakesAreRefusedNamingTheEntry(text: String, fragment: String) {
        #expect(throws: APIKeyFile.Failure.self) { try Self.parse(text) }
        do {
            _ = try Self.parse(text)
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
            #expect(!error.message.contains("0123456789abcdef"), "a key must never be echoed")
        }
    }
}
