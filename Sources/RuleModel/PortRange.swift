/// Port ranges in endpoints: "198.18.0.1:10000-10099" is the endpoint of
/// the first port and a count of 100. A range maps onto a range of the same
/// size, port by port: listen port `first + i` goes to backend port
/// `backend.first + i`.
public enum PortRange {
    /// Parses "ADDR:PORT" (count nil) or "ADDR:FIRST-LAST" (count
    /// LAST-FIRST+1, FIRST <= LAST). `whole` is the argument to name in
    /// errors (it may carry a weight suffix).
    public static func parse(_ string: String, whole: String? = nil) throws(RuleError) -> (Endpoint, UInt16?) {
        let named = whole ?? string
        // The range's dash sits after the last colon (the port's), so an
        // IPv6 address in brackets never confuses it.
        guard let colon = string.lastIndex(of: ":"), let dash = string[colon...].firstIndex(of: "-") else {
            return (try Endpoint(parsing: string), nil)
        }
        let first = try Endpoint(parsing: String(string[..<dash]))
        let lastText = string[string.index(after: dash)...]
        guard let last = Endpoint.parsePort(lastText) else { throw .invalidPort(String(lastText), in: named) }
        guard last >= first.port else {
            throw .invalidPortRange(String(string[string.index(after: colon)...]), in: named)
        }
        return (first, last - first.port + 1)
    }

    /// "ADDR:FIRST" for one port, "ADDR:FIRST-LAST" for more.
    public static func describe(_ endpoint: Endpoint, count: UInt16) -> String {
        count <= 1 ? endpoint.description : "\(endpoint)-\(UInt32(endpoint.port) + UInt32(count) - 1)"
    }
}
