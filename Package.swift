// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "xdpfwd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "xdpfwd", targets: ["xdpfwd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The only C a Swift file touches: a prefixed shim over libbpf and the
        // kernel/user header shared with bpf/.
        .target(
            name: "CXDP",
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // Rule model and parsing: pure Swift, shared by every data path.
        .target(name: "RuleModel"),
        // Ethernet/IPv4/TCP/UDP frames built and decoded with from-scratch
        // checksums: the oracle of packet tests and the frames of benchmarks.
        .target(name: "Packets"),
        // BPF object (built from bpf/ by the plugin), maps, links, pinning.
        .target(
            name: "XDPLoader",
            dependencies: ["CXDP", "RuleModel"],
            plugins: ["BPFEmbedPlugin"]
        ),
        // The AF_PACKET fallback: the packet function (bpf/xdpfwd.bpf.c in
        // Swift), packet rings, workers, CPU and IRQ placement.
        .target(
            name: "FastPath",
            dependencies: ["CXDP", "XDPLoader", "RuleModel"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // Benchmarks behind `xdpfwd bench`.
        // Its own BPF object (bpf/bench.bpf.c: generator, sink, bare limit).
        .target(
            name: "Benchmarks",
            dependencies: ["CXDP", "XDPLoader", "RuleModel", "Packets", "FastPath"],
            plugins: ["BPFEmbedPlugin"]
        ),
        .executableTarget(
            name: "xdpfwd",
            dependencies: [
                "XDPLoader", "RuleModel", "Benchmarks", "Packets", "FastPath", "CXDP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Compiles bpf/*.bpf.c with the toolchain's clang and embeds the objects.
        .plugin(name: "BPFEmbedPlugin", capability: .buildTool()),
        .testTarget(name: "RuleModelTests", dependencies: ["RuleModel"]),
        // What the privileged test targets share (capability probes).
        .target(name: "TestSupport", dependencies: ["XDPLoader"], path: "Tests/TestSupport"),
        .testTarget(name: "XDPLoaderTests", dependencies: ["XDPLoader", "RuleModel", "CXDP", "Packets", "Benchmarks", "TestSupport"]),
        .testTarget(name: "FastPathTests", dependencies: ["FastPath", "XDPLoader", "RuleModel", "CXDP", "Packets", "TestSupport"]),
    ]
)
