/// Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table
/// of prime size M whose slots name backends. A new flow picks
/// `slots[hash(flow) % M]`; established flows never consult it (conntrack
/// pins them), so changing the backend set only steers new flows.
///
/// Each backend walks its own permutation of the slots (offset and skip
/// from two independent hashes of its identity) and claims the next free
/// slot on its turns; a backend of weight w takes w turns per round, so its
/// share of slots is proportional to its weight. Weight 0 (draining) takes
/// no slots. Adding or removing one of N backends moves about 1/N of slots.
///
/// The table depends only on the backends' identities and weights, never on
/// their order or on earlier tables, so any process rebuilding it from the
/// same rule gets the same table.
public struct MaglevTable: Equatable, Sendable {
    /// Prime table sizes offered; larger tables balance more evenly.
    public static let defaultSize = 4093
    public static let maximumWeight: UInt32 = 1000

    public let size: Int
    /// For each slot, an index into the `backends` passed to `init`.
    public let slots: [UInt16]

    public enum BuildError: Error, Equatable, CustomStringConvertible {
        case sizeNotPrime(Int)
        case noActiveBackend
        case tooManyBackends(Int, max: Int)
        case weightTooLarge(UInt32)
        case duplicateBackend(String)

        public var description: String {
            switch self {
            case .sizeNotPrime(let size): "Maglev table size \(size) is not a prime above 2"
            case .noActiveBackend: "every backend has weight 0: no backend can take new flows"
            case .tooManyBackends(let count, let max): "\(count) backends: a rule takes at most \(max)"
            case .weightTooLarge(let weight): "weight \(weight) is too large: weights are 0-\(MaglevTable.maximumWeight)"
            case .duplicateBackend(let key): "backend \(key) is listed twice"
            }
        }
    }

    /// - Parameters:
    ///   - backends: each backend's stable identity (e.g. "198.18.1.2:8000")
    ///     and weight.
    ///   - size: a prime, comfortably larger than the sum of weights.
    public init(backends: [(key: String, weight: UInt32)], size: Int = defaultSize) throws(BuildError) {
        guard size > 2, Self.isPrime(size) else { throw .sizeNotPrime(size) }
        let maxBackends = min(size / 2, Int(UInt16.max))
        guard backends.count <= maxBackends else { throw .tooManyBackends(backends.count, max: maxBackends) }
        var seen = Set<String>()
        for backend in backends {
            guard backend.weight <= Self.maximumWeight else { throw .weightTooLarge(backend.weight) }
            guard seen.insert(backend.key).inserted else { throw .duplicateBackend(backend.key) }
        }
        let active = backends.indices.filter { backends[$0].weight > 0 }
        guard !active.isEmpty else { throw .noActiveBackend }

        // Walk order by identity, not by position, so the caller's ordering
        // never changes the table.
        let order = active.sorted { backends[$0].key < backends[$1].key }
        let permutations = order.map { index -> (offset: Int, skip: Int) in
            let key = Array(backends[index].key.utf8)
            let offset = Int(Self.fnv1a(key, seed: 0x6D61676C) % UInt64(size))
            let skip = Int(Self.fnv1a(key, seed: 0x65763031) % UInt64(size - 1)) + 1
            return (offset, skip)
        }
        var next = [Int](repeating: 0, count: order.count)
        var table = [Int32](repeating: -1, count: size)
        var filled = 0
        fill: while true {
            for (turn, index) in order.enumerated() {
                for _ in 0..<backends[index].weight {
                    // The next slot of this backend's permutation that is free.
                    var slot: Int
                    repeat {
                        slot = (permutations[turn].offset + next[turn] * permutations[turn].skip) % size
                        next[turn] += 1
                    } while table[slot] >= 0
                    table[slot] = Int32(index)
                    filled += 1
                    if filled == size { break fill }
                }
            }
        }
        self.size = size
        self.slots = table.map { UInt16($0) }
    }

    /// The backend index for a flow hash.
    public func backend(forHash hash: UInt32) -> Int { Int(slots[Int(hash % UInt32(size))]) }

    static func isPrime(_ n: Int) -> Bool {
        guard n >= 2 else { return false }
        var divisor = 2
        while divisor * divisor <= n {
            if n % divisor == 0 { return false }
            divisor += 1
        }
        return true
    }

    /// 64-bit FNV-1a over the seed's bytes then the key: stable across
    /// processes and releases (Swift's Hasher is randomly seeded).
    static func fnv1a(_ bytes: [UInt8], seed: UInt32) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in withUnsafeBytes(of: seed.littleEndian, Array.init) + bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
