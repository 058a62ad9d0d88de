import Foundation
import PackagePlugin

/// Compiles text files of the repository into a target as `enum <Name> { static let all }`
/// (see ResourceEmbedder): the Lua scripts into SluiceCore, the OpenAPI document and the
/// console's templates and assets into SluiceServer. One tool and one plugin for all of them;
/// what each target embeds is the table below.
@main
struct EmbedResources: BuildToolPlugin {
    struct Embedding {
        var enumName: String
        /// Folder (or single file) below the package root.
        var source: String
        var extensions: Set<String>
        /// "stem" (file name without extension) or "path" (below `source`).
        var keying: String
    }

    static let embeddings: [String: [Embedding]] = [
        "SluiceCore": [Embedding(enumName: "EmbeddedLuaSources", source: "lua", extensions: ["lua"], keying: "stem")],
        "SluiceServer": [
            Embedding(enumName: "EmbeddedOpenAPIDocument", source: "openapi.yaml", extensions: ["yaml"], keying: "path"),
            Embedding(enumName: "EmbeddedConsoleFiles", source: "console", extensions: ["mustache", "js", "css"], keying: "path"),
        ],
    ]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let tool = try context.tool(named: "ResourceEmbedder").url
        return try (Self.embeddings[target.name] ?? []).map { embedding in
            let source = context.package.directoryURL.appending(path: embedding.source)
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory)
            let base = isDirectory.boolValue ? source : source.deletingLastPathComponent()
            let files = isDirectory.boolValue ? try Self.files(below: source, extensions: embedding.extensions) : [source]
            let output = context.pluginWorkDirectoryURL.appending(path: "\(embedding.enumName).swift")
            return .buildCommand(
                displayName: "Embedding \(files.count) file(s) of \(embedding.source) as \(embedding.enumName)",
                executable: tool,
                arguments: [output.path, embedding.enumName, embedding.keying, base.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        }
    }

    static func files(below folder: URL, extensions: Set<String>) throws -> [URL] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        return walker.compactMap { $0 as? URL }
            .filter { extensions.contains($0.pathExtension) }
            .sorted { $0.path < $1.path }
    }
}
