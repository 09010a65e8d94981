import CXDP
import Glibc
import XDPLoader

/// How the forwarder process runs: which CPUs get a worker, the ring
/// sizes, and the TX mode. Validated in pure Swift.
public struct ForwarderOptions: Sendable, Equatable {
    public var cpus: [Int]
    public var geometry = RingGeometry()
    /// PACKET_QDISC_BYPASS on the TX rings (the default; see docs/fastpath.md).
    public var qdiscBypass = true
    /// Pin each NIC queue's IRQ to the CPU of the worker for that queue.
    public var pinIRQs = true
    /// Leave GRO on (attach turns it off: merged TCP segments cannot be
    /// forwarded as received). For UDP-only setups such as the veth
    /// benchmark, where GRO is what gives the device NAPI.
    public var keepGRO = false

    public init(cpus: [Int]) { self.cpus = cpus }

    /// Every online CPU, the default worker set.
    public static func allCPUs() -> [Int] {
        let count = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return Array(0..<max(1, count))
    }

    /// "0,2-3" -> [0, 2, 3].
    public static func parseCPUs(_ text: String) throws(RingGeometry.Problem) -> [Int] {
        var cpus: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last!), low >= 0, low <= high,
                  high < 1024 else { throw .invalid("--cpus \"\(text)\": expected a list like 0,2-3") }
            cpus += Array(low...high)
        }
        guard Set(cpus).count == cpus.count else { throw .invalid("--cpus \"\(text)\" names a CPU twice") }
        return cpus
    }

    public func validate() throws(RingGeometry.Problem) {
        guard !cpus.isEmpty, cpus.count <= 64 else { throw .invalid("--cpus: 1-64 CPUs") }
        let online = Self.allCPUs().count
        for cpu in cpus where cpu >= online {
            throw .invalid("--cpus: CPU \(cpu) is not online (this machine has \(online))")
        }
        try geometry.validate()
    }

    /// The arguments that recreate these options (the restart record).
    public var arguments: [String] {
        var args = ["--cpus", cpus.map(String.init).joined(separator: ","),
                    "--ring-block-size", "\(geometry.blockSize)", "--ring-blocks", "\(geometry.blockCount)",
                    "--ring-frame-size", "\(geometry.frameSize)", "--ring-retire-ms", "\(geometry.retireMs)",
                    "--tx-frame-size", "\(geometry.txFrameSize)", "--tx-frames", "\(geometry.txFrames)",
                    "--tx-batch", "\(geometry.txBatch)"]
        if !qdiscBypass { args.append("--no-qdisc-bypass") }
        if !pinIRQs { args.append("--no-irq-pinning") }
        if keepGRO { args.append("--keep-gro") }
        return args
    }
}

/// The stop request for the running forwarder, set from a signal handler.
nonisolated(unsafe) let forwarderStop: UnsafeMutablePointer<Int32> = {
    let flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    flag.initialize(to: 0)
    return flag
}()

/// The FastPath forwarder: workers on every interface the ifaces map
/// records in AF_PACKET mode, counters published to the pinned maps every
/// 200 ms, IRQs pinned while it runs. Runs until SIGTERM/SIGINT.
public final class Forwarder {
    public let interfaces: [Interface]
    let workers: [Worker]
    let publisher: CounterPublisher
    let datapath: Datapath
    let irqPlan: IRQPlan?

    let irqSaveFile: String?

    public init(layout: PinLayout, options: ForwarderOptions, irqSaveFile: String?, log: (String) -> Void) throws {
        self.irqSaveFile = irqSaveFile
        datapath = try Datapath.openPinned(layout)
        let records = try datapath.maps.ifaces.entries().filter { UInt32($0.1.mode) == XDPFWD_MODE_AFPACKET.rawValue }
        guard !records.isEmpty else { throw XDPFwdError.state("no interface is attached in afpacket mode") }
        interfaces = records.map { Interface(name: Interface.name(of: $0.0), ifindex: $0.0) }.sorted { $0.ifindex < $1.ifindex }
        let egress = interfaces.map(\.ifindex)
        var workers: [Worker] = []
        for cpu in options.cpus {
            var rx: [RXRing] = [], tx: [TXRing] = []
            for interface in interfaces {
                // One worker: no fanout group (it would hash every packet for nothing).
                let fanout = options.cpus.count == 1 ? -1
                    : Int32(truncatingIfNeeded: (UInt32(getpid()) &* 31 &+ interface.ifindex) & 0xFFFF)
                rx.append(try RXRing(ifindex: interface.ifindex, name: interface.name, geometry: options.geometry, fanoutID: fanout))
                tx.append(try TXRing(ifindex: interface.ifindex, name: interface.name, geometry: options.geometry,
                                     qdiscBypass: options.qdiscBypass))
            }
            var state = MapState(datapath: datapath, egressInterfaces: egress,
                                 flowCacheSlots: 8192)
            state.configRefreshNs = 1_000_000_000
            workers.append(try Worker(cpu: cpu, rx: rx, tx: tx, state: state, stop: forwarderStop))
        }
        self.workers = workers
        publisher = CounterPublisher(statsFD: datapath.maps.fpStats.fd.raw, ruleStatsFD: datapath.maps.fpRuleStats.fd.raw,
                                     keepAlive: [datapath.maps.fpStats.fd, datapath.maps.fpRuleStats.fd],
                                     workers: workers.map(\.state.counters))
        if options.pinIRQs {
            let plan = IRQPlan(root: "/", interfaces: interfaces.map(\.name), cpus: options.cpus)
            irqPlan = plan
            for line in plan.report() { log(line) }
        } else {
            irqPlan = nil
        }
    }

    /// Each worker's frames and heap allocations so far.
    public var workerAllocations: [WorkerAllocations] { workers.map(\.report.snapshot) }

    /// The same, after adding the RX rings' latest drops (publisher thread).
    private func collectReport() -> [WorkerAllocations] {
        for worker in workers { worker.collectRingDrops() }
        return workerAllocations
    }

    /// Starts the workers, calls `ready`, publishes counters (and hands
    /// `report` the workers' allocation counts) every 200 ms until a stop
    /// signal, then joins the workers and restores IRQ affinity.
    public func run(ready: () throws -> Void, report: ([WorkerAllocations]) -> Void = { _ in }) throws {
        forwarderStop.pointee = 0
        signal(SIGTERM) { _ in forwarderStop.pointee = 1 }
        signal(SIGINT) { _ in forwarderStop.pointee = 1 }
        signal(SIGPIPE, SIG_IGN)
        let restore = try irqPlan?.apply(savedAt: irqSaveFile)
        defer { if let restore { restore.restore() } }
        var threads: [pthread_t] = []
        for worker in workers {
            let box = Unmanaged.passRetained(worker).toOpaque()
            var thread = pthread_t()
            let result = pthread_create(&thread, nil, { raw in
                let worker = Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue()
                worker.run()
                return nil
            }, box)
            if result != 0 {
                forwarderStop.pointee = 1
                for thread in threads { pthread_join(thread, nil) }
                throw FastPathError("pthread_create", "worker on CPU \(worker.cpu)", errno: result)
            }
            threads.append(thread)
        }
        defer {
            forwarderStop.pointee = 1
            for thread in threads { pthread_join(thread, nil) }
            publisher.publish()
            report(collectReport())
        }
        try ready()
        while forwarderStop.pointee == 0 {
            usleep(200_000)
            publisher.publish()
            report(collectReport())
        }
    }
}
