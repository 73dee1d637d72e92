import JSONCore

/// Reads `application/x-www-form-urlencoded` text, as query-protocol requests carry it.
public enum QueryForm {
    /// Splits form text into decoded name/value pairs, in order.
    public static func parse(_ text: String) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (decode(pair[..<eq]), decode(pair[pair.index(after: eq)...]))
            }
            return (decode(pair), "")
        }
    }

    /// Percent-decodes a form component (`+` is a space).
    public static func decode(_ component: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(component.utf8.count)
        var iterator = component.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                if let hi = iterator.next(), let lo = iterator.next(), let h = hexValue(hi), let l = hexValue(lo) {
                    bytes.append(h << 4 | l)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Turns flattened names (`Tags.member.1.Key=a`) into a JSON tree of strings
    /// (`{"Tags": {"member": {"1": {"Key": "a"}}}}`) that ``ShapeDecoder`` reads with lenient scalars.
    /// `Action` and `Version` are left out: they choose the operation, they are not its input.
    public static func tree(_ pairs: [(String, String)]) -> JSON {
        var root: JSON = .object([:])
        for (name, value) in pairs where name != "Action" && name != "Version" {
            insert(&root, path: name.split(separator: ".").map(String.init)[...], value: value)
        }
        return root
    }

    static func insert(_ node: inout JSON, path: ArraySlice<String>, value: String) {
        guard let head = path.first else { node = .string(value); return }
        guard case .object(var object) = node else {
            var fresh: JSON = .object([:])
            insert(&fresh, path: path, value: value)
            node = fresh
            return
        }
        node = .null
        var child = object[head] ?? .object([:])
        insert(&child, path: path.dropFirst(), value: value)
        object[head] = child
        node = .object(object)
    }
}
