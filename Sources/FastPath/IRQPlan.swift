import Glibc

/// Queue-to-core IRQ pinning. A NIC's queue IRQs are the MSI vectors its
/// device lists (ROOT/sys/class/net/IF/device/msi_irqs/N) whose
/// /proc/interrupts name carries the interface and a queue number
/// ("eth0-TxRx-3", "eth0-rx-3"); the vector named just "eth0" (link, misc)
/// is left alone. Queue i's IRQ goes to the CPU of worker i (round robin
/// when there are more queues than workers), so a packet's interrupt, the
/// kernel's RX work and its FastPath worker share a core.
///
/// `root` is a parameter ("/" on a real system) so the logic runs against
/// fixture trees. Virtual devices (veth, dummy) have no device IRQs: that
/// is reported, not an error.
public struct IRQPlan: Sendable {
    public struct Assignment: Equatable, Sendable {
        public let interface: String
        public let queue: Int
        public let irq: Int
        public let cpu: Int
    }

    public let root: String
    public let assignments: [Assignment]
    /// Interfaces with no queue IRQs (virtual devices).
    public let withoutIRQs: [String]

    public init(root: String, interfaces: [String], cpus: [Int]) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        let names = Self.interruptNames(root: self.root)
        var assignments: [Assignment] = []
        var without: [String] = []
        for interface in interfaces {
            let queues = Self.queueIRQs(root: self.root, interface: interface, names: names)
            if queues.isEmpty || cpus.isEmpty { without.append(interface); continue }
            for (position, entry) in queues.enumerated() {
                assignments.append(Assignment(interface: interface, queue: entry.queue, irq: entry.irq,
                                              cpu: cpus[position % cpus.count]))
            }
        }
        self.assignments = assignments
        withoutIRQs = without
    }

    public func report() -> [String] {
        var lines = withoutIRQs.map { "\($0): no device IRQs (a virtual device): nothing to pin" }
        for interface in Set(assignments.map(\.interface)).sorted() {
            let mine = assignments.filter { $0.interface == interface }
            lines.append("\(interface): " + mine.map { "queue \($0.queue) irq \($0.irq) -> cpu \($0.cpu)" }.joined(separator: ", "))
        }
        return lines
    }

    /// IRQ number -> its action name, from ROOT/proc/interrupts.
    static func interruptNames(root: String) -> [Int: String] {
        guard let text = readText(root + "/proc/interrupts") else { return [:] }
        var names: [Int: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first, first.hasSuffix(":"), let irq = Int(first.dropLast()), let name = fields.last else { continue }
            names[irq] = String(name)
        }
        return names
    }

    /// (queue, irq) of one interface, by queue number.
    static func queueIRQs(root: String, interface: String, names: [Int: String]) -> [(queue: Int, irq: Int)] {
        let directory = "\(root)/sys/class/net/\(interface)/device/msi_irqs"
        var result: [(Int, Int)] = []
        for entry in listDirectory(directory) {
            guard let irq = Int(entry), let name = names[irq], name.hasPrefix(interface), name != interface else { continue }
            // The queue number ends the name: "eth0-TxRx-3" -> 3.
            let digits = name.reversed().prefix { $0.isNumber }
            guard !digits.isEmpty, let queue = Int(String(digits.reversed())) else { continue }
            result.append((queue, irq))
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// Writes each assignment's CPU to ROOT/proc/irq/N/smp_affinity_list.
    /// The previous values are saved in `savedAt` first (kept if it exists:
    /// a crashed forwarder left the originals there), so `restore` and a
    /// later `IRQPlan.restore(savedAt:)` put them back.
    public func apply(savedAt path: String? = nil) throws -> IRQRestore {
        var originals: [(String, String)] = []
        if let path, let saved = readText(path) {
            originals = saved.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }
        } else {
            for assignment in assignments {
                let file = "\(root)/proc/irq/\(assignment.irq)/smp_affinity_list"
                guard let old = readText(file)?.split(separator: "\n").first else { continue }
                originals.append((file, String(old)))
            }
            if let path { try writeText(path, originals.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n") }
        }
        for assignment in assignments {
            try writeText("\(root)/proc/irq/\(assignment.irq)/smp_affinity_list", "\(assignment.cpu)\n")
        }
        return IRQRestore(originals: originals, savedAt: path)
    }

    /// Restores what a saved file records (after a crash); false if none.
    @discardableResult
    public static func restore(savedAt path: String) -> Bool {
        guard let saved = readText(path) else { return false }
        let originals = saved.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        IRQRestore(originals: originals, savedAt: path).restore()
        return true
    }
}

/// The affinities to put back.
public struct IRQRestore: Sendable {
    public let originals: [(String, String)]
    public let savedAt: String?

    public func restore() {
        for (file, value) in originals { try? writeText(file, value + "\n") }
        if let savedAt { unlink(savedAt) }
    }
}

func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func writeText(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    if fd < 0 { throw FastPathError("open", path, errno: errno) }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    if write(fd, bytes, bytes.count) != bytes.count { throw FastPathError("write", path, errno: errno) }
}

func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
