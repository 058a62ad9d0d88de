import SluiceCore
import Testing

/// Issue 11: rendered templates had no size cap; a few kilobytes of `{{context.big}}` over a
/// large value asked for gigabytes. Rendering stops (SluiceError.tooLarge) at the limit.
@Suite struct TemplateTests {
    static let scope: JSONValue = .object(["context": .object(["big": .string(String(repeating: "x", count: 100_000)), "n": .number(7)])])

    @Test func renderingStopsAtTheLimit() {
        let bomb = String(repeating: "{{context.big}}", count: 100_000)  // 10 GB if rendered
        #expect(throws: SluiceError.self) { try Template.renderText(bomb, scope: Self.scope, limit: 1_000_000) }
        let params: JSONValue = .object(Dictionary(uniqueKeysWithValues: (0..<100).map { ("k\($0)", JSONValue.string("{{context.big}}")) }))
        #expect(throws: SluiceError.self) { try Template.render(params, scope: Self.scope, limit: 1_000_000) }
    }

    @Test func withinTheLimitNothingChanges() throws {
        #expect(try Template.renderText("n = {{ context.n }}!", scope: Self.scope, limit: 100) == "n = 7!")
        let params: JSONValue = .object(["a": .string("{{context.n}}"), "b": .array([.string("{{context.missing}}")])])
        #expect(try Template.render(params, scope: Self.scope, limit: 100) == .object(["a": .number(7), "b": .array([.string("")])]))
    }
}
