import Foundation
import PackagePlugin

/// Compiles the top-level `lua/` folder into the target as `EmbeddedLuaSources.all`.
@main
struct EmbedLuaScripts: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let luaDirectory = context.package.directoryURL.appending(path: "lua")
        let scripts = try FileManager.default
            .contentsOfDirectory(at: luaDirectory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedLuaSources.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(scripts.count) Lua scripts",
                executable: try context.tool(named: "LuaEmbedder").url,
                arguments: [output.path] + scripts.map(\.path),
                inputFiles: scripts,
                outputFiles: [output]
            )
        ]
    }
}
