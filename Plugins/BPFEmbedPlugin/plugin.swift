import Foundation
import PackagePlugin

/// Builds the BPF objects a target embeds with the toolchain's clang
/// (`-target bpf`, scripts/build-bpf.sh) and embeds each as base64 in a
/// generated Swift file. Only `.swift` files are declared as outputs:
/// anything else would become a resource.
@main
struct BPFEmbedPlugin: BuildToolPlugin {
    /// Which bpf/ source each target embeds, and the Swift enum holding it.
    static let objects: [String: [(source: String, enumName: String)]] = [
        "XDPLoader": [("xdpfwd.bpf.c", "EmbeddedBPFObject")],   // the data plane
        "Benchmarks": [("bench.bpf.c", "EmbeddedBenchObject")],  // generator, sink, bare limit
    ]

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let bpfDir = root.appending(path: "bpf")
        let sharedInclude = root.appending(path: "Sources/CXDP/include")
        let script = root.appending(path: "scripts/build-bpf.sh")
        let clang = try context.tool(named: "clang").url

        let sources = (try? FileManager.default.contentsOfDirectory(at: bpfDir, includingPropertiesForKeys: nil)) ?? []
        let headers = (try? FileManager.default.contentsOfDirectory(at: sharedInclude, includingPropertiesForKeys: nil)) ?? []
        let inputs = (sources + headers).filter { ["c", "h"].contains($0.pathExtension) } + [script]

        return (Self.objects[target.name] ?? []).map { object in
            let output = context.pluginWorkDirectoryURL.appending(path: "\(object.enumName).swift")
            return .buildCommand(
                displayName: "Compiling BPF object bpf/\(object.source)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, clang.path, bpfDir.path, sharedInclude.path, output.path, object.source, object.enumName],
                inputFiles: inputs,
                outputFiles: [output]
            )
        }
    }
}
