import Synchronization

/// Random (version 4) UUIDs in lowercase, as AWS writes request ids and event ids, for the identifiers made on
/// every request.
///
/// Foundation's `UUID()` on Linux opens and reads `/dev/urandom` for each one: three system calls, which showed
/// as 2% of the server's time under load. These come from a xoshiro256** generator seeded once from the system's
/// entropy: unique and unpredictable enough for identifiers, and not meant for secrets (task tokens, which
/// callers present back as proof, still come from Foundation).
public enum RandomUUID {
    private static let generator = Mutex(Xoshiro256StarStar(seed: SystemRandomNumberGenerator()))

    /// A new UUID such as `1b4e28ba-2fa1-41d2-883f-0016d3cca427`.
    public static func make() -> String {
        let (high, low) = generator.withLock { ($0.next(), $0.next()) }
        // Version 4 in the 13th hex digit, variant 10xx in the 17th (RFC 9562).
        return format(high: (high & ~0xF000) | 0x4000, low: (low & ~(0xC << 60)) | (0x8 << 60))
    }

    /// The 32 hex digits of `high` then `low`, grouped 8-4-4-4-12.
    static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            // `dashes` has bit i set when a dash follows hex digit i (from 0) of the half.
            func write(_ value: UInt64, dashes: UInt16) {
                for index in 0..<16 {
                    let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * index)) & 0xF
                    buffer[position] = nibble < 10 ? nibble + UInt8(ascii: "0") : nibble - 10 + UInt8(ascii: "a")
                    position += 1
                    if dashes & (1 << index) != 0 {
                        buffer[position] = UInt8(ascii: "-")
                        position += 1
                    }
                }
            }
            write(high, dashes: 1 << 7 | 1 << 11 | 1 << 15)
            write(low, dashes: 1 << 3)
            return position
        }
    }
}

/// xoshiro256** (Blackman and Vigna): fast, 256 bits of state, passes the usual statistical test suites.
struct Xoshiro256StarStar: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: some RandomNumberGenerator) {
        var source = seed
        s = (source.next(), source.next(), source.next(), source.next())
        if s == (0, 0, 0, 0) { s.0 = 1 }  // the one state the generator cannot leave
    }

    mutating func next() -> UInt64 {
        let result = (s.1 &* 5).rotatedLeft(7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3.rotatedLeft(45)
        return result
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}
