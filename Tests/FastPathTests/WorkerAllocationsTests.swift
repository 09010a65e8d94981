import FastPath
import Testing

/// The forwarder's per-worker allocation report: what it writes, `status`
/// reads back; a damaged file is refused whole, not half-read.
@Suite("FastPath: worker allocation report")
struct WorkerAllocationsTests {
    @Test("format and parse round-trip")
    func roundTrip() throws {
        let workers = [
            WorkerAllocations(cpu: 0, frames: 25120, allocations: 14, startupAllocations: 12, ringDrops: 7, txNotSent: 5),
            WorkerAllocations(cpu: 3, frames: 0, allocations: 9, startupAllocations: 9),
        ]
        let text = WorkerAllocations.format(workers)
        #expect(text == "0 25120 14 12 7 5\n3 0 9 9 0 0\n")
        #expect(WorkerAllocations.parse(text) == workers)
    }

    @Test("malformed reports are refused", arguments: [
        "0 1 2 0 0\n",                 // a field missing (the report before tx_not_sent)
        "0 1 2 0 4 5 6\n",             // one too many
        "x 1 2 0 0 0\n",               // CPU not a number
        "-1 1 2 0 0 0\n",              // negative CPU
        "0 1 2 0 -4 0\n",              // negative count
        "0 1 2 0 0 -1\n",              // negative frames not sent
        "0 10 2 3 0 0\n",              // more start-up allocations than allocations
        "0 1 2 0 0 0\n1 a 2 0 0 0\n", // a bad second line
    ])
    func malformed(_ text: String) {
        #expect(WorkerAllocations.parse(text) == nil)
    }

    @Test("an empty report is no workers")
    func empty() {
        #expect(WorkerAllocations.parse("") == [])
    }
}
