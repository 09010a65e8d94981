import Foundation
import PackagePlugin

/// Builds bpf/xdpfwd.bpf.c with the toolchain's clang (`-target bpf`) and
/// embeds the object as base64 in a generated Swift file. Only a `.swift`
/// file is declared as output: anything else would become a resource.
@main
struct BPFEmbedPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let bpfDir = root.appending(path: "bpf")
        let sharedHeader = root.appending(path: "Sources/CXDP/include/xdpfwd_kern_user.h")
        let script = root.appending(path: "scripts/build-bpf.sh")
        let clang = try context.tool(named: "clang").url
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObject.swift")

        let sources = (try? FileManager.default.contentsOfDirectory(at: bpfDir, includingPropertiesForKeys: nil)) ?? []
        let inputs = sources.filter { ["c", "h"].contains($0.pathExtension) } + [sharedHeader, script]

        return [
            .buildCommand(
                displayName: "Compiling BPF data plane (bpf/xdpfwd.bpf.c)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, clang.path, bpfDir.path, sharedHeader.deletingLastPathComponent().path, output.path],
                inputFiles: inputs,
                outputFiles: [output]
            )
        ]
    }
}
