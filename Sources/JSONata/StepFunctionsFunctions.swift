import Crypto
import Foundation
import JSONCore

/// Function sets a host can bind into a ``JSONataEnvironment``.
public enum JSONataFunctions {
    /// The functions AWS Step Functions adds to JSONata: `$partition`, `$range`, `$hash`, `$random`, `$uuid`,
    /// `$parse`. With a `randomSeed`, `$random()` without a seed argument is repeatable too.
    public static func stepFunctions(randomSeed: UInt64? = nil) -> [String: JSONataFunction] {
        let generator = SeededRandom(seed: randomSeed ?? UInt64.random(in: 0...UInt64.max))
        return [
            "partition": JSONataFunction(signature: "<an:a>") { args in
                guard case .array(let items)? = args[0] else { return nil }
                guard case .number(let size)? = args[1], size >= 1, size == size.rounded() else {
                    throw JSONataError(code: "T0410", message: "The chunk size of $partition must be a positive integer")
                }
                // A size past the array's length is one chunk (and a size past Int would trap).
                let n = size >= Double(items.count) ? max(1, items.count) : Int(size)
                return .array(stride(from: 0, to: items.count, by: n).map { .array(Array(items[$0..<min($0 + n, items.count)])) })
            },
            "range": JSONataFunction(signature: "<nnn:a>") { args in
                guard case .number(let start)? = args[0], case .number(let end)? = args[1], case .number(let step)? = args[2] else {
                    return nil
                }
                guard step != 0, [start, end, step].allSatisfy({ $0 == $0.rounded() }) else {
                    throw JSONataError(code: "T0410", message: "The arguments of $range must be integers and the step must not be 0")
                }
                // Counted in doubles: the bounds may be any number, and only a count up to 1000 becomes an Int.
                let countValue = ((end - start) / step).rounded(.down) + 1
                guard countValue <= 1000 else {
                    throw JSONataError(code: "D2014", message: "$range can produce at most 1000 items")
                }
                let count = countValue.isNaN ? 0 : Int(max(0, countValue))
                return .array(count <= 0 ? [] : (0..<count).map { .number(start + Double($0) * step) })
            },
            "hash": JSONataFunction(signature: "<s-s:s>") { args in
                guard case .string(let text)? = args[0] else { return nil }
                let algorithm = args[1]?.stringValue ?? "SHA-256"
                guard let digest = StepFunctionsHash.hex(text, algorithm: algorithm) else {
                    throw JSONataError(
                        code: "D3137",
                        message:
                            "The hash algorithm must be one of \(StepFunctionsHash.algorithms.joined(separator: ", ")); got \(algorithm)")
                }
                return .string(digest)
            },
            "random": JSONataFunction(signature: "<n?:n>") { args in
                if case .number(let seed)? = args.first ?? nil {
                    // The seed's integer part; one past 64 bits by the number's bits (Int64() would trap).
                    let integer = Int64(exactly: seed.rounded(.towardZero))
                    var seeded = SplitMix64(seed: integer.map { UInt64(bitPattern: $0) } ?? seed.bitPattern)
                    return .number(seeded.nextUnit())
                }
                return .number(generator.next())
            },
            "uuid": JSONataFunction(signature: "<:s>") { _ in .string(UUID().uuidString.lowercased()) },
            "parse": JSONataFunction(signature: "<s-:j>") { args in
                guard case .string(let text)? = args[0] else { return nil }
                do {
                    return try JSON(parsing: text)
                } catch {
                    throw JSONataError(code: "D3137", message: "$parse: the string is not valid JSON: \(error)")
                }
            },
        ]
    }
}

/// The digests Step Functions' `$hash` and `States.Hash` compute, as lower-case hex.
public enum StepFunctionsHash {
    public static let algorithms = ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"]

    /// The hex digest of `text`'s UTF-8 bytes, or nil for an algorithm Step Functions does not offer.
    public static func hex(_ text: String, algorithm: String) -> String? {
        let data = Data(text.utf8)
        let digest: [UInt8]
        switch algorithm {
        case "MD5": digest = Array(Insecure.MD5.hash(data: data))
        case "SHA-1": digest = Array(Insecure.SHA1.hash(data: data))
        case "SHA-256": digest = Array(SHA256.hash(data: data))
        case "SHA-384": digest = Array(SHA384.hash(data: data))
        case "SHA-512": digest = Array(SHA512.hash(data: data))
        default: return nil
        }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// SplitMix64: small, fast, and repeatable for a seed (seeded `$random` and `States.MathRandom`).
public struct SplitMix64: Sendable {
    var x: UInt64
    public init(seed: UInt64) { x = seed }
    public mutating func next() -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A double in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// A shared generator for `$random()` without a seed argument.
final class SeededRandom: @unchecked Sendable {
    private let lock = NSLock()
    private var state: SplitMix64

    init(seed: UInt64) { state = SplitMix64(seed: seed) }

    func next() -> Double {
        lock.lock()
        defer { lock.unlock() }
        return state.nextUnit()
    }
}
