import Foundation
import SluiceCore
import Testing

@Suite struct LuaScriptsTests {
    /// The repository's `lua/` folder, found from this file's path.
    static let luaDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("lua")

    @Test func embeddedScriptsEqualTheFilesInLua() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.luaDirectory.path).filter { $0.hasSuffix(".lua") }
        #expect(!files.isEmpty)
        #expect(Set(LuaScripts.sources.keys) == Set(files.map { String($0.dropLast(4)) }))
        for file in files {
            let text = try String(contentsOf: Self.luaDirectory.appendingPathComponent(file), encoding: .utf8)
            #expect(LuaScripts.sources[String(file.dropLast(4))] == text, "lua/\(file) differs from the embedded copy")
        }
    }

    @Test func everyScriptStartsWithItsContract() {
        for (name, source) in LuaScripts.sources where !LuaScripts.preludes.contains(name) {
            let header = source.split(separator: "\n").prefix { $0.hasPrefix("--") }.joined(separator: "\n")
            #expect(header.hasPrefix("-- \(name):"), "lua/\(name).lua must start with '-- \(name): <what it does>'")
            #expect(header.contains("KEYS[1]"), "lua/\(name).lua header must list its KEYS")
            #expect(header.contains("ARGV[1]"), "lua/\(name).lua header must list its ARGV")
            #expect(header.contains("Returns"), "lua/\(name).lua header must say what it returns")
        }
    }
}
