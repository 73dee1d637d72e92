import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-shot HTTP/1.1 request to the local cloud (`http://host:port` only), without FoundationNetworking,
/// whose libcurl would otherwise be needed to link skiff statically.
enum LocalHTTP {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The `Host` header of requests to `urlText` (what a signature of them signs): host, and port when given.
    static func authority(_ urlText: String) -> String {
        guard let url = URL(string: urlText), let host = url.host else { return urlText }
        return url.port.map { "\(host):\($0)" } ?? host
    }

    /// POSTs `body` to `path`, with `headers` added (a SigV4 signature, say); returns the status and the body.
    static func post(
        _ urlText: String, path: String, body: [UInt8], contentType: String = "application/json",
        headers: [String: String] = [:]
    ) throws -> (status: Int, body: String) {
        try exchange(urlText, method: "POST", target: path, body: body, contentType: contentType, headers: headers)
    }

    /// Sends one request with `method` to `target` (a path, with its query when it has one), with `headers` added;
    /// returns the status and the body.
    static func exchange(
        _ urlText: String, method: String, target: String, body: [UInt8], contentType: String = "application/json",
        headers: [String: String] = [:]
    ) throws -> (status: Int, body: String) {
        guard let url = URL(string: urlText), url.scheme == "http", let host = url.host else {
            throw Failure(description: "\(urlText) is not an http:// URL of the local cloud")
        }
        let port = url.port ?? 80
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "cannot open a socket") }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to \(host):\(port) (is skiff up running?)")
        }
        let extra = headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)\r\n" }.joined()
        var request = Array(
            "\(method) \(target) HTTP/1.1\r\nHost: \(authority(urlText))\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extra)Connection: close\r\n\r\n"
                .utf8)
        request.append(contentsOf: body)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "the local cloud closed the connection") }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else {
            throw Failure(description: "the local cloud's answer is not HTTP")
        }
        let bodyText = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, bodyText)
    }
}
