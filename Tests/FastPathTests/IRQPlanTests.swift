import FastPath
import Foundation
import Testing

/// Queue-to-core IRQ pinning against fixture trees shaped like sysfs and
/// procfs on machines with a 4-queue and a 16-queue NIC, and a veth.
@Suite("FastPath: IRQ pinning on fixture trees")
struct IRQPlanTests {
    /// A tree: NAME with `queues` TxRx vectors (IRQ base+1...) plus a misc
    /// vector named just NAME (IRQ base), every affinity "0-15"; "veth0"
    /// without a device directory.
    static func fixture(_ nics: [(name: String, queues: Int, base: Int)]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("xfp-irq-\(getpid())-\(UUID().uuidString)")
        let fm = FileManager.default
        var interrupts = "           CPU0       CPU1\n"
        for nic in nics {
            let msi = root.appendingPathComponent("sys/class/net/\(nic.name)/device/msi_irqs")
            try fm.createDirectory(at: msi, withIntermediateDirectories: true)
            for irq in nic.base...(nic.base + nic.queues) {
                try "msix\n".write(to: msi.appendingPathComponent("\(irq)"), atomically: true, encoding: .utf8)
                let dir = root.appendingPathComponent("proc/irq/\(irq)")
                try fm.createDirectory(at: dir, withIntermediateDirectories: true)
                try "0-15\n".write(to: dir.appendingPathComponent("smp_affinity_list"), atomically: true, encoding: .utf8)
                let name = irq == nic.base ? nic.name : "\(nic.name)-TxRx-\(irq - nic.base - 1)"
                interrupts += " \(irq):   12   34  IR-PCI-MSI 524288-edge      \(name)\n"
            }
        }
        try fm.createDirectory(at: root.appendingPathComponent("sys/class/net/veth0"), withIntermediateDirectories: true)
        interrupts += "NMI:          0          0   Non-maskable interrupts\n"
        try interrupts.write(to: root.appendingPathComponent("proc/interrupts"), atomically: true, encoding: .utf8)
        return root
    }

    static func affinity(_ root: URL, _ irq: Int) throws -> String {
        try String(contentsOf: root.appendingPathComponent("proc/irq/\(irq)/smp_affinity_list"), encoding: .utf8)
    }

    @Test("4-queue NIC on 2 workers: queue i -> worker i mod 2, misc vector untouched, restored after")
    func fourQueues() throws {
        let root = try Self.fixture([("eth0", 4, 40)])
        defer { try? FileManager.default.removeItem(at: root) }
        let plan = IRQPlan(root: root.path, interfaces: ["eth0", "veth0"], cpus: [0, 1])
        #expect(plan.assignments.map(\.irq) == [41, 42, 43, 44])
        #expect(plan.assignments.map(\.queue) == [0, 1, 2, 3])
        #expect(plan.assignments.map(\.cpu) == [0, 1, 0, 1])
        #expect(plan.withoutIRQs == ["veth0"])
        #expect(plan.report().contains("veth0: no device IRQs (a virtual device): nothing to pin"))

        let saved = root.appendingPathComponent("saved").path
        let restore = try plan.apply(savedAt: saved)
        #expect(try Self.affinity(root, 41) == "0\n")
        #expect(try Self.affinity(root, 42) == "1\n")
        #expect(try Self.affinity(root, 44) == "1\n")
        #expect(try Self.affinity(root, 40) == "0-15\n", "the misc vector is not a queue")
        restore.restore()
        for irq in 40...44 { #expect(try Self.affinity(root, irq) == "0-15\n") }
        #expect(!FileManager.default.fileExists(atPath: saved))
    }

    @Test("16-queue NIC on 4 workers, and recovery after a crash restores the originals")
    func sixteenQueuesAndCrash() throws {
        let root = try Self.fixture([("ens1f0", 16, 100), ("eth1", 4, 200)])
        defer { try? FileManager.default.removeItem(at: root) }
        let plan = IRQPlan(root: root.path, interfaces: ["ens1f0", "eth1"], cpus: [2, 3, 5, 7])
        let mine = plan.assignments.filter { $0.interface == "ens1f0" }
        #expect(mine.count == 16)
        #expect(mine.map(\.cpu) == Array(repeating: [2, 3, 5, 7], count: 4).flatMap { $0 })
        #expect(plan.assignments.filter { $0.interface == "eth1" }.map(\.cpu) == [2, 3, 5, 7])

        let saved = root.appendingPathComponent("saved").path
        _ = try plan.apply(savedAt: saved)        // the forwarder "crashes" here: no restore
        #expect(try Self.affinity(root, 116) == "7\n")
        _ = try plan.apply(savedAt: saved)        // a restarted forwarder keeps the true originals
        #expect(IRQPlan.restore(savedAt: saved))  // detach after the crash
        for irq in 100...116 { #expect(try Self.affinity(root, irq) == "0-15\n") }
        #expect(!IRQPlan.restore(savedAt: saved), "nothing left to restore")
    }

    @Test("an interface unknown to sysfs (or without msi_irqs) has no IRQs, not an error")
    func missing() {
        let plan = IRQPlan(root: "/nonexistent-xfp-root", interfaces: ["eth9"], cpus: [0])
        #expect(plan.assignments.isEmpty && plan.withoutIRQs == ["eth9"])
    }
}
