import AWSProtocol

/// Which requests may reach the local cloud at all, whatever their signature: those addressed to this machine
/// and not sent by a web page the user happens to have open.
///
/// Why: a server on loopback is reachable from every page in the user's browser. A page cannot read the answers of
/// another origin, but it can send requests, and the local cloud runs programs (ECS tasks) on the host. Three
/// kinds of browser request are refused here (docs/security.md has the whole threat model):
/// - **DNS rebinding**: a page of `evil.example` makes its own name resolve to 127.0.0.1 and then calls the API
///   as its own origin, with any header it likes. Its requests still name `evil.example` in `Host`, so only Host
///   names that cannot be rebound are served: loopback addresses, `localhost` and `*.localhost` (which browsers
///   resolve to loopback themselves, RFC 6761), the address the server listens on, and names given with
///   `--allowed-host`.
/// - **Cross-origin requests**: browsers name the page's origin in `Origin` on every cross-origin request and on
///   same-origin POSTs, and say where a request comes from in `Sec-Fetch-Site`. A request from any origin other
///   than the local cloud's own or one given with `--allowed-origin` is refused, as is one a browser marks as
///   coming from another site.
/// - **Requests without a preflight**: a page may POST `text/plain`, `multipart/form-data` and
///   `application/x-www-form-urlencoded` bodies anywhere without asking first. Such a request must carry an
///   `Authorization` header, which no page can add without a CORS preflight, and preflights are answered only
///   for allowed origins.
public struct RequestOriginPolicy: Sendable {
    /// Lower-cased host names served besides loopback addresses and `localhost`.
    let allowedHosts: Set<String>
    /// Lower-cased origins (`scheme://host[:port]`) whose pages may call the API, besides the cloud's own.
    let allowedOrigins: Set<String>
    /// The port the cloud listens on: its own origin is `http://<allowed host>:<port>`.
    let port: Int

    public init(configuration: CloudConfiguration) {
        var hosts = Set(configuration.allowedHosts.map { Self.normalized(host: $0) })
        let listening = Self.normalized(host: configuration.host)
        // Listening on every address names no host a client would use: those are given with --allowed-host.
        if !["0.0.0.0", "::", ""].contains(listening) { hosts.insert(listening) }
        allowedHosts = hosts
        allowedOrigins = Set(configuration.allowedOrigins.map { Self.normalized(origin: $0) })
        port = configuration.port
    }

    /// What the policy makes of a request.
    public enum Verdict: Equatable, Sendable {
        /// Served.
        case allowed
        /// Served, from a page of an allowed origin other than the cloud's own: the answer carries CORS headers
        /// naming `origin`, so that the page may read it.
        case allowedCrossOrigin(origin: String)
        /// Refused, for the reason given.
        case refused(String)
    }

    /// The verdict on a request, given its lower-cased headers.
    public func verdict(method: String, headers: [String: String]) -> Verdict {
        if let host = headers["host"], !isServed(host: host) {
            return .refused(
                "Skiff answers only requests addressed to this machine (a loopback address, localhost, or a name given "
                    + "with skiff up --allowed-host); the Host '\(host.prefix(100))' is not one of them.")
        }
        var crossOrigin: String?
        if let origin = headers["origin"] {
            let normalized = Self.normalized(origin: origin)
            if allowedOrigins.contains(normalized) {
                crossOrigin = normalized
            } else if !isOwn(origin: normalized) {
                return .refused(
                    "Skiff does not answer requests from web pages of another origin ('\(origin.prefix(100))'); "
                        + "an origin given with skiff up --allowed-origin may call it.")
            }
        } else if let site = headers["sec-fetch-site"], site != "same-origin", site != "none" {
            return .refused(
                "Skiff does not answer requests that a browser sends on behalf of another site (Sec-Fetch-Site: \(site.prefix(40))).")
        }
        if headers["authorization"] == nil, let type = headers["content-type"], Self.isSentWithoutPreflight(contentType: type) {
            return .refused(
                "A request with Content-Type '\(type.prefix(80))' must be signed in an Authorization header: "
                    + "web pages can send that content type to any server without asking first.")
        }
        if let crossOrigin { return .allowedCrossOrigin(origin: crossOrigin) }
        return .allowed
    }

    /// Whether `host` (a Host header: a name or address, with or without a port) names this machine.
    public func isServed(host: String) -> Bool {
        let name = Self.normalized(host: Self.withoutPort(host))
        return Self.isLoopback(name) || allowedHosts.contains(name)
    }

    /// Whether `origin` (normalized) is the local cloud's own: http on its port, at a host it serves.
    func isOwn(origin: String) -> Bool {
        guard origin.hasPrefix("http://") else { return false }
        let authority = String(origin.dropFirst("http://".count))
        guard let portText = Self.port(of: authority), Int(portText) == port else { return false }
        return isServed(host: authority)
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an
    /// allowed origin; nil for any other request. Preflights from other origins are refused by ``verdict``.
    public func preflightAnswer(method: String, headers: [String: String]) -> OperationResponse? {
        guard method == "OPTIONS", let origin = headers["origin"], headers["access-control-request-method"] != nil else { return nil }
        let normalized = Self.normalized(origin: origin)
        guard allowedOrigins.contains(normalized) || isOwn(origin: normalized) else { return nil }
        var response = OperationResponse(status: 200)
        response.headers =
            Self.crossOriginHeaders(origin: normalized) + [
                ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD"),
                ("Access-Control-Allow-Headers", headers["access-control-request-headers"] ?? "*"),
                ("Access-Control-Max-Age", "600"),
            ]
        return response
    }

    /// Headers that let a page of `origin` read an answer, and the headers the SDKs read from it.
    public static func crossOriginHeaders(origin: String) -> [(String, String)] {
        [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", "x-amzn-RequestId, x-amzn-ErrorType, x-amz-request-id, Date"),
            ("Vary", "Origin"),
        ]
    }

    // MARK: Names

    /// The three content types the Fetch standard lets a page send without a preflight.
    static func isSentWithoutPreflight(contentType: String) -> Bool {
        let media = contentType.prefix { $0 != ";" }.trimmingSpaces().lowercased()
        return media == "text/plain" || media == "multipart/form-data" || media == "application/x-www-form-urlencoded"
    }

    /// A Host header without its port: `127.0.0.1:4566` → `127.0.0.1`, `[::1]:4566` → `::1`.
    static func withoutPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return host }
            return String(host[host.index(after: host.startIndex)..<close])
        }
        // An address with more than one colon is IPv6 without brackets: it has no port.
        let colons = host.filter { $0 == ":" }.count
        if colons == 1, let colon = host.firstIndex(of: ":") { return String(host[..<colon]) }
        return host
    }

    /// The port of an authority (`host:port`, `[v6]:port`), if it names one.
    static func port(of authority: String) -> Substring? {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let rest = authority[authority.index(after: close)...]
            return rest.hasPrefix(":") ? rest.dropFirst() : nil
        }
        guard authority.filter({ $0 == ":" }).count == 1, let colon = authority.firstIndex(of: ":") else { return nil }
        return authority[authority.index(after: colon)...]
    }

    static func normalized(host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }  // `localhost.` is `localhost`
        return name
    }

    static func normalized(origin: String) -> String {
        var text = origin.trimmingSpaces().lowercased()
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// Names that always mean this machine: 127.0.0.0/8, ::1 (also as an IPv4-mapped address), `localhost` and
    /// names under it.
    static func isLoopback(_ name: String) -> Bool {
        if name == "localhost" || name.hasSuffix(".localhost") || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        let v4 = name.hasPrefix("::ffff:") ? String(name.dropFirst("::ffff:".count)) : name
        let parts = v4.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCIIDigit) && Int(part)! <= 255
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first == " " || slice.first == "\t" { slice.removeFirst() }
        while slice.last == " " || slice.last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
