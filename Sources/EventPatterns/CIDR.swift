/// An IPv4 or IPv6 address as 16 bytes (IPv4 in its first 4, flagged), parsed without the C library so the
/// engine stays pure and portable.
struct IPAddress: Sendable, Equatable {
    var bytes: [UInt8]
    var isV4: Bool

    init?(_ text: String) {
        if text.contains(":") {
            guard let bytes = Self.parseV6(text) else { return nil }
            (self.bytes, isV4) = (bytes, false)
        } else {
            guard let bytes = Self.parseV4(Substring(text)) else { return nil }
            (self.bytes, isV4) = (bytes, true)
        }
    }

    static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let n = UInt8(part),
                part.count == 1 || part.first != "0"
            else { return nil }
            bytes.append(n)
        }
        return bytes
    }

    static func parseV6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var bytes: [UInt8] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    bytes += v4
                    continue
                }
                guard (1...4).contains(piece.count), let n = UInt16(piece, radix: 16) else { return nil }
                bytes += [UInt8(n >> 8), UInt8(n & 0xFF)]
            }
            return bytes
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 16 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

/// A `cidr` pattern: an address block such as `10.0.0.0/24` or `2001:db8::/32` (a bare address is a /32 or /128).
struct CIDRBlock: Sendable {
    let network: IPAddress
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        let maximum = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        network = address
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.isV4 == network.isV4 else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }
}
