import SluiceCore
import Testing

@Suite struct EgressPolicyTests {
    static func bytes(_ text: String) -> [UInt8] { EgressPolicy.address(text) ?? [] }

    @Test(arguments: [
        "127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe",
    ])
    func privateLoopbackLinkLocalAndMetadataAreRefusedByDefault(_ address: String) {
        #expect(EgressPolicy().refusal(host: "h", addresses: [Self.bytes(address)]) != nil, "\(address)")
    }

    @Test(arguments: ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
    func publicAddressesAreAllowed(_ address: String) {
        #expect(EgressPolicy().refusal(host: "h", addresses: [Self.bytes(address)]) == nil, "\(address)")
    }

    @Test func everyResolvedAddressMustPass() {
        #expect(EgressPolicy().refusal(host: "h", addresses: [Self.bytes("8.8.8.8"), Self.bytes("10.0.0.1")]) != nil)
        #expect(EgressPolicy().refusal(host: "h", addresses: []) != nil)
    }

    @Test func theAllowListOpensHostsNetworksOrEverything() throws {
        let policy = try EgressPolicy(parsing: " 127.0.0.1 , 10.0.0.0/8,Internal.Example, fd00::/8 ")
        #expect(policy.refusal(host: "x", addresses: [Self.bytes("127.0.0.1")]) == nil)
        #expect(policy.refusal(host: "x", addresses: [Self.bytes("127.0.0.2")]) != nil)
        #expect(policy.refusal(host: "x", addresses: [Self.bytes("10.200.1.1")]) == nil)
        #expect(policy.refusal(host: "x", addresses: [Self.bytes("fd12::1")]) == nil)
        #expect(policy.refusal(host: "internal.example", addresses: [Self.bytes("192.168.0.1")]) == nil)
        #expect(policy.refusal(host: "x", addresses: [Self.bytes("169.254.169.254")]) != nil)
        #expect(try EgressPolicy(parsing: "*").refusal(host: "x", addresses: [Self.bytes("169.254.169.254")]) == nil)
    }

    @Test(arguments: ["10.0.0.0/33", "::1/129", "http://x", "a b", "10.0.0.0/x"])
    func badEntriesNameTheVariable(_ entry: String) {
        do {
            _ = try EgressPolicy(parsing: entry)
            Issue.record("\(entry) must be refused")
        } catch {
            #expect(error.variable == "SLUICE_HTTP_ALLOW")
        }
    }
}
