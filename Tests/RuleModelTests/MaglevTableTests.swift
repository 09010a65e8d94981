import Testing
@testable import RuleModel

/// Properties of the Maglev table the balancing relies on: every slot
/// filled, shares proportional to weights, about 1/N of slots moving when
/// one of N backends comes or goes, and independence from input order.
struct MaglevTableTests {
    static func backends(_ count: Int, weight: UInt32 = 1) -> [(key: String, weight: UInt32)] {
        (0..<count).map { (key: "198.18.1.\($0 + 2):8000", weight: weight) }
    }

    static func weighted(_ pairs: (String, UInt32)...) -> [(key: String, weight: UInt32)] {
        pairs.map { (key: $0.0, weight: $0.1) }
    }

    static func shares(_ table: MaglevTable, count: Int) -> [Int] {
        var shares = [Int](repeating: 0, count: count)
        for slot in table.slots { shares[Int(slot)] += 1 }
        return shares
    }

    @Test("equal weights: every backend within 2% of an equal share", arguments: [2, 3, 5, 16, 64])
    func balance(count: Int) throws {
        let table = try MaglevTable(backends: Self.backends(count))
        let shares = Self.shares(table, count: count)
        let fair = Double(table.size) / Double(count)
        #expect(shares.reduce(0, +) == table.size)
        for share in shares {
            #expect(abs(Double(share) - fair) / fair < 0.02, "share \(share) vs fair \(fair)")
        }
    }

    @Test("shares follow weights 1:2:3")
    func weights() throws {
        let table = try MaglevTable(backends: [("a:1", 1), ("b:1", 2), ("c:1", 3)])
        let shares = Self.shares(table, count: 3)
        let unit = Double(table.size) / 6
        for (index, weight) in [1.0, 2.0, 3.0].enumerated() {
            #expect(abs(Double(shares[index]) - unit * weight) / (unit * weight) < 0.02, "\(shares)")
        }
    }

    @Test("weight 0 drains: no slots")
    func drain() throws {
        let table = try MaglevTable(backends: [("a:1", 1), ("b:1", 0), ("c:1", 1)])
        #expect(!table.slots.contains(1))
        #expect(Set(table.slots) == [0, 2])
    }

    @Test("removing one of N backends moves about 1/N of the slots", arguments: [3, 5, 10])
    func disruptionOnRemove(count: Int) throws {
        let before = try MaglevTable(backends: Self.backends(count))
        let remaining = Array(Self.backends(count).dropLast())
        let after = try MaglevTable(backends: remaining)
        // Slots of surviving backends that now point elsewhere: Maglev keeps
        // these few; the removed backend's own slots must all move.
        var moved = 0
        for slot in 0..<before.size where Int(before.slots[slot]) != count - 1 {
            if before.slots[slot] != after.slots[slot] { moved += 1 }
        }
        let removedShare = before.slots.filter { Int($0) == count - 1 }.count
        #expect(Double(removedShare) / Double(before.size) < 1.0 / Double(count) * 1.05)
        #expect(Double(moved) / Double(before.size) < 0.02, "surviving backends lost \(moved) slots")
    }

    @Test("adding one backend to N moves about 1/(N+1) of the slots", arguments: [2, 4, 9])
    func disruptionOnAdd(count: Int) throws {
        let before = try MaglevTable(backends: Self.backends(count))
        let after = try MaglevTable(backends: Self.backends(count + 1))
        let moved = (0..<before.size).filter { before.slots[$0] != after.slots[$0] }.count
        let ideal = 1.0 / Double(count + 1)
        #expect(Double(moved) / Double(before.size) < ideal * 1.15, "moved \(moved) of \(before.size)")
        #expect(Double(moved) / Double(before.size) > ideal * 0.85, "moved \(moved) of \(before.size)")
    }

    @Test("input order does not change the table")
    func orderIndependent() throws {
        let forward = try MaglevTable(backends: Self.backends(7))
        let reversed = try MaglevTable(backends: Self.backends(7).reversed())
        // Same identities at mirrored indices: map back before comparing.
        #expect(forward.slots == reversed.slots.map { 6 - $0 })
    }

    @Test("bad input is refused with the reason", arguments: [
        (MaglevTableTests.backends(2), 4096, MaglevTable.BuildError.sizeNotPrime(4096)),
        (MaglevTableTests.weighted(("a:1", 0), ("b:1", 0)), 4093, .noActiveBackend),
        (MaglevTableTests.weighted(("a:1", 1), ("a:1", 2)), 4093, .duplicateBackend("a:1")),
        (MaglevTableTests.weighted(("a:1", 1001)), 4093, .weightTooLarge(1001)),
        (MaglevTableTests.backends(10), 13, .tooManyBackends(10, max: 6)),
    ])
    func refuses(backends: [(key: String, weight: UInt32)], size: Int, error: MaglevTable.BuildError) {
        #expect(throws: error) { try MaglevTable(backends: backends, size: size) }
    }

    @Test func messages() {
        #expect(MaglevTable.BuildError.noActiveBackend.description == "every backend has weight 0: no backend can take new flows")
        #expect(MaglevTable.BuildError.sizeNotPrime(10).description == "Maglev table size 10 is not a prime above 2")
    }
}
