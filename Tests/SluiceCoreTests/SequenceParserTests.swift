import SluiceCore
import Testing

@Suite struct SequenceParserTests {
    static let expense = """
    { "id": "expense-approval", "name": "Expense Approval Flow", "tenant_id": "tenant-1", "namespace": "production",
      "blocks": [
        { "id": "fetch-data", "type": "step", "handler": "http_request",
          "params": { "method": "GET", "url": "http://127.0.0.1:9000/expenses/{{context.expense_id}}" } },
        { "id": "manager-review", "type": "human_input",
          "prompt": "Approve expense of ${{context.amount}} for {{context.purpose}}?",
          "choices": [ { "label": "Approve", "value": "approved" }, { "label": "Reject", "value": "rejected" },
                       { "label": "Need More Info", "value": "info_needed" } ],
          "store_as": "decision", "timeout_seconds": 86400, "escalation_handler": "escalate-to-director" },
        { "id": "pay", "type": "step", "handler": "pay-expense", "when": { "path": "context.decision", "equals": "approved" } }
      ] }
    """

    @Test func theSeedExampleParses() throws {
        let sequence = try SequenceParser.parse(try JSONValue.parse(Array(Self.expense.utf8)))
        #expect(sequence.id == "expense-approval" && sequence.name == "Expense Approval Flow")
        #expect(sequence.tenantId == "tenant-1" && sequence.namespace == "production")
        #expect(sequence.blocks.map(\.id) == ["fetch-data", "manager-review", "pay"])
        guard case .humanInput(let gate) = sequence.blocks[1].kind else {
            Issue.record("manager-review must be a gate")
            return
        }
        #expect(gate.choices.map(\.value) == ["approved", "rejected", "info_needed"])
        #expect(gate.storeAs == "decision" && gate.timeoutSeconds == 86400 && gate.onTimeout == .escalate)
        guard case .step(let step) = sequence.blocks[0].kind else {
            Issue.record("fetch-data must be a step")
            return
        }
        #expect(step.retry == .default)
        #expect(sequence.blocks[2].when == Condition(path: "context.decision", test: .equals(.string("approved"))))
    }

    @Test func gateDefaults() throws {
        let sequence = try SequenceParser.parse(try JSONValue.parse(Array(#"{"id":"s","blocks":[{"id":"g","type":"human_input","prompt":"ok?"}]}"#.utf8)))
        guard case .humanInput(let gate) = sequence.blocks[0].kind else { throw SluiceError.notFound("gate") }
        #expect(gate.choices == Choice.yesNo)
        #expect(gate.storeAs == "g")
        #expect(gate.onTimeout == .fail)
        #expect(sequence.name == "s")
    }

    @Test(arguments: [
        (#"{"id":"s","blocks":[]}"#, "blocks"),
        (#"{"blocks":[{"id":"a","type":"step","handler":"noop"}]}"#, "id"),
        (#"{"id":"bad id","blocks":[{"id":"a","type":"step","handler":"noop"}]}"#, "id"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"noop"},{"id":"a","type":"step","handler":"noop"}]}"#, "blocks[1].id"),
        (#"{"id":"s","blocks":[{"id":"a","type":"loop"}]}"#, "blocks[0].type"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","choices":[]}]}"#, "blocks[0].choices"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","choices":[{"label":"A","value":"x"},{"label":"B","value":"x"}]}]}"#, "blocks[0].choices[1].value"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","timeout_seconds":-1}]}"#, "blocks[0].timeout_seconds"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"noop","when":{"path":"context.x","matches":"y"}}]}"#, "blocks[0].when"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"noop","retry":{"max_attempts":0}}]}"#, "blocks[0].retry.max_attempts"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","on_timeout":"escalate"}]}"#, "blocks[0].on_timeout"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","on_timeout":{"choose":"maybe"}}]}"#, "blocks[0].on_timeout.choose"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"noop","chocies":[]}]}"#, "blocks[0].chocies"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step"}]}"#, "blocks[0].handler"),
        (#"{"id":"s","blocks":["# + (0...1000).map { #"{"id":"b\#($0)","type":"step","handler":"noop"}"# }.joined(separator: ",") + "]}", "blocks"),
        (#"{"id":"s","blocks":[{"id":"a","type":"human_input","prompt":"p","choices":["# + (0...100).map { #"{"label":"L","value":"v\#($0)"}"# }.joined(separator: ",") + "]}]}",
         "blocks[0].choices"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"http_request","params":{"timeout_ms":1e19}}]}"#, "blocks[0].params.timeout_ms"),
        (#"{"id":"s","blocks":[{"id":"a","type":"step","handler":"noop","retry":{"backoff_ms":1e19}}]}"#, "blocks[0].retry.backoff_ms"),
    ])
    func invalidSequencesNameTheField(body: String, field: String) throws {
        do {
            _ = try SequenceParser.parse(try JSONValue.parse(Array(body.utf8)))
            Issue.record("\(body) must be refused")
        } catch let error as SluiceError {
            guard case .invalid(let got, let message) = error else {
                Issue.record("expected .invalid, got \(error)")
                return
            }
            #expect(got == field, "\(message)")
            #expect(!message.isEmpty)
        }
    }
}
