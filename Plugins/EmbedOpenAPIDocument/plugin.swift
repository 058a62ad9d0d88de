import Foundation
import PackagePlugin

/// Compiles the top-level `openapi.yaml` into the target as `EmbeddedOpenAPIDocument.yaml`, so
/// `GET /openapi.yaml` serves the document the binary was built with, wherever it runs.
@main
struct EmbedOpenAPIDocument: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let document = context.package.directoryURL.appending(path: "openapi.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedOpenAPIDocument.swift")
        return [
            .buildCommand(
                displayName: "Embedding openapi.yaml",
                executable: try context.tool(named: "OpenAPIEmbedder").url,
                arguments: [document.path, output.path],
                inputFiles: [document],
                outputFiles: [output]
            )
        ]
    }
}
