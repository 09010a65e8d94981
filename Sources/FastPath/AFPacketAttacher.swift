import CXDP
import Glibc
import XDPLoader

/// Attach and detach in AF_PACKET mode. Attach records each interface in
/// the ifaces map (mode afpacket: `status` shows it, `--snat auto` uses its
/// addresses), turns IPv4 and IPv6 forwarding on (the kernel's FIB lookup, which
/// FastPath uses too, requires it), puts the TC classifier that drops the
/// stack's copy of taken packets on clsact ingress, and (re)starts the one
/// forwarder process of the pin directory, which serves every afpacket
/// interface. Each step has an undo; a failure undoes them all.
public struct AFPacketAttacher {
    public let layout: PinLayout
    public let files: ForwarderFiles

    public init(layout: PinLayout) {
        self.layout = layout
        files = ForwarderFiles(layout: layout)
    }

    public struct Attached: Sendable {
        public let interface: Interface
        public let ipv4NetworkOrder: UInt32
        public let enabledForwarding: Bool
        /// Already attached in afpacket mode; only the forwarder was (re)started.
        public let wasAttached: Bool
    }

    public enum Start: Sendable {
        /// Spawn `executable forward ...` and wait until it is up.
        case background(executable: String)
        /// The caller runs `runForeground` after attach returns.
        case foreground
    }

    /// Records the interfaces and starts the forwarder (background) or
    /// leaves that to `runForeground`. Returns the forwarder's PID.
    public func attach(_ names: [String], options: ForwarderOptions, start: Start)
        throws -> (attached: [Attached], pid: pid_t?)
    {
        do { try options.validate() } catch { throw XDPFwdError.invalidArgument(error.description) }
        let interfaces = try resolveUnique(names)
        try layout.requireBPFFS()
        try layout.createDirectory()
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        let (datapath, _) = try Datapath.openOrLoadPinned(layout)
        try files.createDirectory()
        let maps = datapath.maps

        var fresh: [Interface] = [], already: [Interface] = []
        for interface in interfaces {
            if let record = try maps.ifaces.lookup(interface.ifindex) {
                guard UInt32(record.mode) == XDPFWD_MODE_AFPACKET.rawValue else {
                    throw XDPFwdError.state("\(interface.name) is already attached to xdpfwd in XDP mode (xdpfwd detach \(interface.name) first)")
                }
                already.append(interface)
                continue
            }
            var progID: UInt32 = 0, mode: UInt8 = 0
            try check(cxdp_xdp_query(Int32(interface.ifindex), &progID, &mode), "bpf_xdp_query", interface.name)
            if progID != 0 {
                throw XDPFwdError.state("\(interface.name) has an XDP program (id \(progID)), which would see packets before AF_PACKET: remove it first")
            }
            fresh.append(interface)
        }
        if fresh.isEmpty, let pid = files.livePID() {
            throw XDPFwdError.state("\(names.joined(separator: ", ")) already attached in afpacket mode (forwarder pid \(pid) is running)")
        }

        try stopForwarder()
        var undo: [() -> Void] = []
        do {
            var results = already.map { interface in
                Attached(interface: interface, ipv4NetworkOrder: interface.primaryIPv4NetworkOrder(), enabledForwarding: false, wasAttached: true)
            }
            // Runs last on undo, once these interfaces are out of the maps.
            undo.append { try? VLANTable.sync(maps) }
            for interface in fresh {
                results.append(try attachOne(interface, datapath: datapath, undo: &undo))
            }
            // VLAN uppers of every attached interface, these included: a
            // flow leaving through one goes out of its lower's TX ring with
            // the tags pushed.
            try VLANTable.sync(maps)
            if !options.keepGRO {
                let before = files.groDisabled()
                var disabled = before
                for interface in fresh where cxdp_gro_get(interface.name) == 1 {
                    try check(cxdp_gro_set(interface.name, 0), "ioctl(ETHTOOL_SGRO)", interface.name)
                    undo.append { _ = cxdp_gro_set(interface.name, 1) }
                    disabled.append(interface.name)
                }
                try files.setGRODisabled(disabled)
                undo.append { try? files.setGRODisabled(before) }
            }
            // Wildcard rules match the attached interfaces' addresses.
            try LocalAddresses.sync(maps)
            try files.saveOptions(options)
            switch start {
            case .foreground:
                return (results, nil)
            case .background(let executable):
                let pid = try spawn(executable)
                return (results, pid)
            }
        } catch {
            for action in undo.reversed() { action() }
            throw error
        }
    }

    private func attachOne(_ interface: Interface, datapath: Datapath, undo: inout [() -> Void]) throws -> Attached {
        let maps = datapath.maps
        let address = interface.primaryIPv4NetworkOrder()
        let wasForwarding = try interface.readForwarding()
        if !wasForwarding {
            try interface.writeForwarding(true)
            undo.append { try? interface.writeForwarding(false) }
        }
        // IPv6 alike (bpf_fib_lookup checks the ingress device's setting);
        // nil when the interface has no IPv6.
        let wasForwarding6 = try interface.readForwarding6()
        if wasForwarding6 == false {
            try interface.writeForwarding6(true)
            undo.append { try? interface.writeForwarding6(false) }
        }
        var createdClsact: Int32 = 0
        try check(cxdp_tc_ingress_attach(Int32(interface.ifindex), datapath.afpTCProgram.raw, &createdClsact),
                  "bpf_tc_attach", "\(interface.name) ingress")
        let destroy = createdClsact
        undo.append { _ = cxdp_tc_ingress_detach(Int32(interface.ifindex), destroy) }
        var record = xdpfwd_iface()
        record.ipv4_addr = address
        record.ifindex = interface.ifindex
        record.mode = UInt8(XDPFWD_MODE_AFPACKET.rawValue)
        record.prev_forwarding = wasForwarding ? 1 : 0
        record.prev_forwarding6 = wasForwarding6.map { $0 ? 1 : 0 } ?? 2
        if let address6 = interface.primaryIPv6() { record.ipv6_addr = address6.networkOrderWords }
        record.created_clsact = UInt8(createdClsact)
        record.attached_unix = UInt64(time(nil))
        try maps.ifaces.update(interface.ifindex, record, .noExist)
        undo.append { _ = try? maps.ifaces.delete(interface.ifindex) }
        return Attached(interface: interface, ipv4NetworkOrder: address, enabledForwarding: !wasForwarding, wasAttached: false)
    }

    /// Runs the forwarder in this process until SIGTERM/SIGINT.
    public func runForeground(options: ForwarderOptions, log: @escaping (String) -> Void) throws {
        let forwarder = try Forwarder(layout: layout, options: options, irqSaveFile: files.irqFile, log: log)
        defer {
            files.removePID()
            files.removeWorkers()
        }
        try forwarder.run(ready: {
            try files.writeWorkers(forwarder.workerAllocations)
            try files.writePID(getpid())
            log("forwarding on \(forwarder.interfaces.map(\.name).joined(separator: ", ")) with \(options.cpus.count) worker(s) on CPU \(options.cpus.map(String.init).joined(separator: ",")), pid \(getpid())")
        }, report: { workers in try? files.writeWorkers(workers) })
    }

    /// Spawns the background forwarder and waits (at most 10 s) until it
    /// has written its PID file, i.e. its rings are up.
    private func spawn(_ executable: String) throws -> pid_t {
        files.removePID()
        let arguments = [executable, "forward", "--pin-dir", layout.directory] + (files.savedArguments() ?? [])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, files.logFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(CXDP_POSIX_SPAWN_SETSID))
        // The forwarder outlives us: it must not hold our descriptors (a
        // pipe someone reads our stderr from would never see EOF).
        _ = cxdp_cloexec_from(3)
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        if result != 0 { throw XDPFwdError.syscall(SyscallError("posix_spawn", executable, errno: result)) }
        for _ in 0..<200 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw XDPFwdError.state("the afpacket forwarder exited during start-up: \(files.logTail())")
            }
            if let written = files.livePID(), written == pid { return pid }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        throw XDPFwdError.state("the afpacket forwarder did not come up within 10 s: \(files.logTail())")
    }

    /// Stops the running forwarder, if any: SIGTERM, then SIGKILL after 5 s.
    /// Restores IRQ affinity a crashed one left pinned.
    public func stopForwarder() throws {
        if let pid = files.livePID() {
            kill(pid, SIGTERM)
            var gone = false
            for _ in 0..<100 {
                if !ForwarderFiles.alive(pid) { gone = true; break }
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { gone = true; break }
                usleep(50_000)
            }
            if !gone {
                kill(pid, SIGKILL)
                usleep(100_000)
            }
        }
        files.removePID()
        IRQPlan.restore(savedAt: files.irqFile)
    }

    /// Detaches the named afpacket interfaces; restarts the forwarder for
    /// the ones that remain.
    public func detach(_ names: [String], executable: String) throws -> [String] {
        let interfaces = try resolveUnique(names)
        let datapath = try Datapath.openPinned(layout)
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        for interface in interfaces {
            guard let record = try datapath.maps.ifaces.lookup(interface.ifindex),
                  UInt32(record.mode) == XDPFWD_MODE_AFPACKET.rawValue else {
                throw XDPFwdError.state("\(interface.name) is not attached to xdpfwd in afpacket mode")
            }
        }
        try stopForwarder()
        for interface in interfaces { try detachOne(interface.ifindex, datapath: datapath) }
        try VLANTable.sync(datapath.maps)
        try LocalAddresses.sync(datapath.maps)
        if try !afpacketInterfaces(datapath).isEmpty {
            _ = try spawn(executable)
        }
        return interfaces.map(\.name)
    }

    /// Detaches every afpacket interface and stops the forwarder. With
    /// purge (Attacher.detachAll removes the pins next), also state another
    /// xdpfwd pinned: its attaches are undone from the fields every
    /// version's records share, and its maps are not written.
    public func detachAll(purge: Bool = false) throws -> [String] {
        try layout.requireBPFFS()
        guard layout.exists(layout.xdpProgram) else { return [] }
        if purge && PinnedState.isForeign(layout) {
            let lock = try PinDirectoryLock(layout)
            defer { withExtendedLifetime(lock) {} }
            try stopForwarder()
            var names: [String] = []
            for record in try AttachRecord.readPinned(layout) where record.isAFPacket {
                names.append(Interface.name(of: record.ifindex))
                try undoAttach(record.ifindex, record: record)
            }
            for file in [files.optionsFile, files.logFile, files.groFile] { unlink(file) }
            return names
        }
        let datapath = try Datapath.openPinned(layout)
        let lock = try PinDirectoryLock(layout)
        defer { withExtendedLifetime(lock) {} }
        try stopForwarder()
        var names: [String] = []
        for ifindex in try afpacketInterfaces(datapath) {
            names.append(Interface.name(of: ifindex))
            try detachOne(ifindex, datapath: datapath)
        }
        try VLANTable.sync(datapath.maps)
        try LocalAddresses.sync(datapath.maps)
        // A clean detach leaves nothing in the run directory (a crash
        // leaves the log for the post-mortem).
        for file in [files.optionsFile, files.logFile, files.groFile] { unlink(file) }
        return names
    }

    public func afpacketInterfaces(_ datapath: Datapath) throws -> [UInt32] {
        try datapath.maps.ifaces.entries().filter { UInt32($0.1.mode) == XDPFWD_MODE_AFPACKET.rawValue }.map(\.0)
    }

    private func detachOne(_ ifindex: UInt32, datapath: Datapath) throws {
        try undoAttach(ifindex, record: try datapath.maps.ifaces.lookup(ifindex).map(AttachRecord.init))
        try datapath.maps.ifaces.delete(ifindex)
    }

    /// Undoes what attach did to the system for one interface: GRO, the
    /// TC classifier (and the clsact qdisc if attach made it), forwarding.
    private func undoAttach(_ ifindex: UInt32, record: AttachRecord?) throws {
        if Interface.exists(ifindex) {
            let name = Interface.name(of: ifindex)
            var disabled = files.groDisabled()
            if let index = disabled.firstIndex(of: name) {
                _ = cxdp_gro_set(name, 1)
                disabled.remove(at: index)
                try files.setGRODisabled(disabled)
            }
            try check(cxdp_tc_ingress_detach(Int32(ifindex), record?.createdClsact == true ? 1 : 0), "bpf_tc_detach", "\(name) ingress")
            if let record, !record.prevForwarding {
                try Interface(name: name, ifindex: ifindex).writeForwarding(false)
            }
            if let record, record.prevForwarding6 == false {
                try Interface(name: name, ifindex: ifindex).writeForwarding6(false)
            }
        }
    }

    private func resolveUnique(_ names: [String]) throws -> [Interface] {
        guard !names.isEmpty else { throw XDPFwdError.invalidArgument("no interface given") }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw XDPFwdError.invalidArgument("interface \"\(name)\" is named twice")
        }
        return try names.map(Interface.named)
    }
}
