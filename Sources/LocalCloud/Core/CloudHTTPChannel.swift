import AWSProtocol
import Crypto
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization

/// One HTTP/1.1 connection of the local cloud's server: NIO's HTTP codec, then ``CloudHTTPHandler``, which reads
/// each request whole and answers it.
///
/// Why not Hummingbird's `HTTP1Channel`: it bridges the connection into Swift concurrency part by part (an async
/// sequence of request parts in, an async writer of response parts out, a body iterator over both) and converts
/// NIO's headers to HTTPTypes' and back. An AWS request is read whole before it is answered, so all of that was
/// per-request cost with no use: under callgrind it was about a fifth of a StartExecution's instructions. Here the
/// request is gathered on the event loop by a plain channel handler and crosses into concurrency once, as one task
/// (on the connection's event loop, see ``EventLoopTaskExecutor``) that answers it. Hummingbird's `Server` still
/// accepts the connections and quiesces them at shutdown.
///
/// A connection may become a WebSocket (an ECS Exec session's data channel): its handshake is answered as any request,
/// and a service that takes it (``WebSocketUpgrade``) gets the connection once the 101 is written.
struct CloudHTTPChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        let inFlight: InFlightAnswer
    }

    /// Answers one request read whole. Never throws: errors are AWS error responses.
    typealias Answerer = @Sendable (ReceivedRequest) async -> OperationResponse

    let answer: Answerer
    /// One executor per event loop of the server's group, keyed by the loop's identity.
    let executors: [ObjectIdentifier: EventLoopTaskExecutor]
    let limits: ConnectionLimits

    init(group: any EventLoopGroup, limits: ConnectionLimits, answer: @escaping Answerer) {
        var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in group.makeIterator() { executors[ObjectIdentifier(loop)] = EventLoopTaskExecutor(eventLoop: loop) }
        self.executors = executors
        self.limits = limits
        self.answer = answer
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let inFlight = InFlightAnswer()
            let guardHandler = ConnectionGuard(limits: limits)
            try channel.pipeline.syncOperations.addHandler(guardHandler)
            guard limits.admitConnection() else {
                guardHandler.refuse(.tooManyConnections(limits.maximumConnections))
                return Value(channel: channel, inFlight: inFlight)
            }
            let limits = self.limits
            channel.closeFuture.whenComplete { _ in limits.releaseConnection() }
            // Pipelining assistance holds a connection's next request until the answer to the last one is written,
            // and closes an idle connection (or a busy one after its answer) when the server quiesces. Requests that
            // are not HTTP are answered by ``CloudHTTPHandler``, with a reason.
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: true, withErrorHandling: false, withOutboundHeaderValidation: false)
            try channel.pipeline.syncOperations.addHandler(
                CloudHTTPHandler(
                    answer: answer, executor: executors[ObjectIdentifier(channel.eventLoop)],
                    limits: limits, connection: guardHandler, inFlight: inFlight))
            return Value(channel: channel, inFlight: inFlight)
        }
    }

    /// Keeps the connection a member of the server until it closes, then until its last answer is done, so that a
    /// stopping server waits for the requests under way. Cancelled (a shutdown that ran out of time), it cancels the
    /// answer under way and closes the connection.
    func handle(value: Value, logger: Logger) async {
        await withTaskCancellationHandler {
            try? await value.channel.closeFuture.get()
            await value.inFlight.current?.value
        } onCancel: {
            value.inFlight.current?.cancel()
            value.channel.close(promise: nil)
        }
    }
}

/// The task answering a connection's current request, if any: one at a time, as pipelining assistance delivers them.
final class InFlightAnswer: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    var current: Task<Void, Never>? { task.withLock { $0 } }

    func set(_ new: Task<Void, Never>?) { task.withLock { $0 = new } }
}

/// A request as read from the connection, before it is an ``OperationRequest``.
struct ReceivedRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    /// Why the request is refused without being read whole: its body went past the server's limit for one request,
    /// or for all requests at once. What was read of the body is dropped.
    var refusal: AWSError?
}

/// Gathers each request on a connection (head, body, end) and answers it in one task.
final class CloudHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let answer: CloudHTTPChannel.Answerer
    private let executor: EventLoopTaskExecutor?
    private let limits: ConnectionLimits
    private let connection: ConnectionGuard
    private let inFlight: InFlightAnswer
    private var request: ReceivedRequest?
    /// Body bytes of the current request reserved from the server's total (``ConnectionLimits/reserve(_:)``), given
    /// back once its answer is written.
    private var reservedBytes = 0
    /// A request is being answered: the connection's next one waits (pipelining assistance holds it).
    private var answering = false
    /// The client closed its side: the connection closes once the answer under way is written.
    private var closeAfterAnswer = false

    init(
        answer: @escaping CloudHTTPChannel.Answerer, executor: EventLoopTaskExecutor?, limits: ConnectionLimits,
        connection: ConnectionGuard, inFlight: InFlightAnswer
    ) {
        self.answer = answer
        self.executor = executor
        self.limits = limits
        self.connection = connection
        self.inFlight = inFlight
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        limits.release(reservedBytes)
        reservedBytes = 0
    }

    func channelInactive(context: ChannelHandlerContext) {
        // An answer under way still holds its request's body; it gives it back when written (or dropped).
        if !answering {
            limits.release(reservedBytes)
            reservedBytes = 0
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = ReceivedRequest(head: head, body: nil, refusal: nil)
            // curl, for one, asks before sending a large body, and waits a second for the answer.
            if head.version != .http1_0, head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
        case .body(var part):
            guard var received = request, received.refusal == nil else { return }
            // Dropped from `request` while it grows, so that the buffer is uniquely referenced and appended in place.
            request = nil
            if (received.body?.readableBytes ?? 0) + part.readableBytes > limits.maximumRequestBytes {
                received.refusal = .requestTooLarge(limit: limits.maximumRequestBytes)
                received.body = nil
                limits.release(reservedBytes)
                reservedBytes = 0
            } else if !limits.reserve(part.readableBytes) {
                received.refusal = AWSError(
                    "SlowDown",
                    "The local cloud holds \(limits.maximumBufferedRequestBytes) bytes of request bodies at "
                        + "most, and other requests hold them now; send the request again.", status: 503)
                received.body = nil
                limits.release(reservedBytes)
                reservedBytes = 0
            } else if received.body == nil {
                reservedBytes += part.readableBytes
                received.body = part
            } else {
                reservedBytes += part.readableBytes
                received.body!.writeBuffer(&part)
            }
            request = received
        case .end:
            guard let received = request else { return }
            request = nil
            connection.requestRead()
            startAnswering(received, context: context)
        }
    }

    /// The client half-closed the connection (it sends no more requests): closed now if idle, or else after the
    /// answer under way, which the client still reads.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .some(ChannelEvent.inputClosed) = event as? ChannelEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        if answering { closeAfterAnswer = true } else { context.close(promise: nil) }
    }

    /// A request that is not HTTP is answered with the reason (pipelining assistance passes the error on only once
    /// the answer under way is written); a broken connection is closed. Nothing more on either can be read as
    /// requests.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? HTTPParserError, !answering {
            connection.refuse(.malformed(error))
        } else {
            context.close(promise: nil)
        }
    }

    private func startAnswering(_ received: ReceivedRequest, context: ChannelHandlerContext) {
        answering = true
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let answer = self.answer
        let inFlight = self.inFlight
        // A WebSocket handshake is answered as any request (origin policy, signature, the service's own checks); the
        // service that takes the connection accepts the offer, and the connection switches once the 101 is written.
        let offer = WebSocketUpgrade(head: received.head)
        let work: @Sendable () async -> Void = {
            let response: OperationResponse
            if let offer {
                response = await WebSocketUpgrade.$offered.withValue(offer) { await answer(received) }
            } else {
                response = await answer(received)
            }
            let write: @Sendable () -> Void = {
                if response.status == 101, let endpoint = offer?.acceptedEndpoint {
                    bound.value.handler.switchToWebSocket(response, endpoint: endpoint, head: received.head, context: bound.value.context)
                } else {
                    bound.value.handler.write(response, for: received.head, context: bound.value.context)
                }
                inFlight.set(nil)
            }
            // On the loop already, but for a connection whose loop has no executor of the server's group.
            if loop.inEventLoop { write() } else { loop.execute(write) }
        }
        inFlight.set(executor.map { Task(executorPreference: $0, operation: work) } ?? Task(operation: work))
    }

    private func write(_ response: OperationResponse, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 4)
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Date", value: HTTPDateHeader.shared.current())
        headers.add(name: "Server", value: CloudServer.serverName)
        answering = false
        limits.release(reservedBytes)
        reservedBytes = 0
        let keepAlive = head.isKeepAlive && !closeAfterAnswer
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            wrapOutboundOut(
                .head(
                    HTTPResponseHead(
                        version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers))), promise: nil)
        if !response.body.isEmpty && head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            connection.answerWritten()
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension CloudHTTPHandler {
    /// Writes the handshake's answer (101 Switching Protocols) and makes the connection a WebSocket: HTTP's handlers
    /// leave the pipeline, WebSocket's frame codec and ``WebSocketFrameHandler`` take their place, and the connection
    /// is no longer timed as a request (its endpoint decides how long it lives). It still counts as one connection.
    fileprivate func switchToWebSocket(
        _ response: OperationResponse, endpoint: any WebSocketEndpoint, head: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        answering = false
        limits.release(reservedBytes)
        reservedBytes = 0
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.add(name: "Date", value: HTTPDateHeader.shared.current())
        headers.add(name: "Server", value: CloudServer.serverName)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .switchingProtocols, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        connection.upgraded()
        let channel = context.channel
        let socket = WebSocketConnection(channel: channel)
        do {
            let pipeline = context.pipeline.syncOperations
            try pipeline.addHandlers([
                WebSocketFrameEncoder(),
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: WebSocketConnection.maximumMessageBytes)),
                NIOWebSocketFrameAggregator(
                    minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 1024,
                    maxAccumulatedFrameSize: WebSocketConnection.maximumMessageBytes),
                WebSocketFrameHandler(endpoint: endpoint, connection: socket),
            ])
            // The client sends nothing before it reads the 101, so the HTTP decoder (which stopped parsing at the
            // handshake) holds no bytes of the WebSocket's.
            pipeline.removeHandler(try pipeline.handler(type: HTTPServerPipelineHandler.self), promise: nil)
            pipeline.removeHandler(try pipeline.handler(type: HTTPResponseEncoder.self), promise: nil)
            pipeline.removeHandler(try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self), promise: nil)
            pipeline.removeHandler(self, promise: nil)
        } catch {
            channel.close(promise: nil)
            endpoint.closed()
            return
        }
        endpoint.opened(socket)
    }
}

extension ReceivedRequest {
    /// The request as services read it: the path as sent, the query parsed, header names lower-cased (repeated
    /// fields joined by commas, as HTTP allows).
    var operationRequest: OperationRequest {
        let (path, queryText) = Self.split(target: head.uri)
        var query: [String: [String]] = [:]
        if let queryText {
            for (name, value) in QueryForm.parse(queryText) { query[name, default: []].append(value) }
        }
        var headers: [String: String] = [:]
        headers.reserveCapacity(head.headers.count)
        for (name, value) in head.headers {
            let name = Self.lowercased(name)
            if let earlier = headers[name] { headers[name] = earlier + "," + value } else { headers[name] = value }
        }
        var request = OperationRequest(method: head.method.rawValue, path: path, query: query, headers: headers)
        if let body { request.body = Array(body.readableBytesView) }
        return request
    }

    /// The path and the query of a request target, in origin form (`/path?query`) or absolute form
    /// (`http://host/path?query`). A fragment is not part of either.
    static func split(target: String) -> (path: String, query: String?) {
        var rest = Substring(target)
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        if !rest.hasPrefix("/"), let scheme = rest.range(of: "://") {
            let authority = rest[scheme.upperBound...]
            rest = authority.firstIndex(where: { $0 == "/" || $0 == "?" }).map { authority[$0...] } ?? ""
        }
        guard let mark = rest.firstIndex(of: "?") else { return (rest.isEmpty ? "/" : String(rest), nil) }
        let path = rest[..<mark]
        return (path.isEmpty ? "/" : String(path), String(rest[rest.index(after: mark)...]))
    }

    /// ASCII lower case: header names are ASCII tokens, and most arrive capitalized (`Content-Type`).
    static func lowercased(_ name: String) -> String {
        var name = name
        let lowered: String? = name.withUTF8 { bytes in
            guard bytes.contains(where: { $0 &- UInt8(ascii: "A") < 26 }) else { return nil }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                for index in bytes.indices {
                    let byte = bytes[index]
                    out[index] = byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
                }
                return bytes.count
            }
        }
        return lowered ?? name
    }
}

// MARK: WebSocket

/// A request's offer to make its connection a WebSocket (RFC 6455), visible to the service answering it while it
/// answers (``offered``). The offer exists only for a valid handshake: `GET` over HTTP/1.1 with `Upgrade: websocket`,
/// `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a key.
///
/// Why a task-local rather than a field of the request: the handshake goes through the whole answer path (the origin
/// policy, the signature, the service's own checks), and only the connection's handler can switch the connection.
public final class WebSocketUpgrade: Sendable {
    /// The offer of the request being answered, if it is a WebSocket handshake.
    @TaskLocal public static var offered: WebSocketUpgrade?

    let key: String
    private let endpoint = Mutex<(any WebSocketEndpoint)?>(nil)

    init?(head: HTTPRequestHead) {
        guard head.method == .GET, head.version == .http1_1,
            head.headers["upgrade"].contains(where: { Self.tokens($0).contains("websocket") }),
            head.headers["connection"].contains(where: { Self.tokens($0).contains("upgrade") }),
            head.headers["sec-websocket-version"].first == "13",
            let key = head.headers["sec-websocket-key"].first?.trimmingCharacters(in: .whitespaces),
            Data(base64Encoded: key)?.count == 16
        else { return nil }
        self.key = key
    }

    /// Takes the connection for `endpoint`; the answer to return is the handshake's, `101 Switching Protocols`.
    public func accept(_ endpoint: any WebSocketEndpoint) -> OperationResponse {
        self.endpoint.withLock { $0 = endpoint }
        return OperationResponse(
            status: 101,
            headers: [
                ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", Self.acceptValue(forKey: key)),
            ])
    }

    var acceptedEndpoint: (any WebSocketEndpoint)? { endpoint.withLock { $0 } }

    /// `Sec-WebSocket-Accept` for a handshake's `Sec-WebSocket-Key`: what tells a client the server speaks WebSocket.
    public static func acceptValue(forKey key: String) -> String {
        Data(Insecure.SHA1.hash(data: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
    }

    /// The comma-separated tokens of a header value, lower-cased.
    static func tokens(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }
}

/// A whole WebSocket message, its fragments joined.
public enum WebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
}

/// What serves a connection that became a WebSocket. Its methods are called on the connection's event loop: they
/// must return at once (hand lasting work to another thread).
public protocol WebSocketEndpoint: Sendable {
    /// The connection is a WebSocket now; `connection` sends on it and closes it.
    func opened(_ connection: WebSocketConnection)
    /// A message from the client.
    func received(_ message: WebSocketMessage)
    /// The connection is gone: the client closed it, it broke, or the endpoint closed it. Called once.
    func closed()
    /// The server is stopping: the endpoint ends what it serves and closes the connection, which the server closes
    /// anyway when its grace period ends.
    func serverStopping()
}

/// The sending side of a WebSocket connection, usable from any thread. Messages go out in the order they are given,
/// whichever threads give them: each is handed to the connection's event loop, which runs what it is handed in order.
public final class WebSocketConnection: Sendable {
    /// The largest message read: bigger ones close the connection (1009, message too big).
    public static let maximumMessageBytes = 1 << 20

    let channel: any Channel
    private let closing = Atomic<Bool>(false)

    init(channel: any Channel) {
        self.channel = channel
    }

    public func send(_ message: WebSocketMessage) {
        let channel = self.channel
        channel.eventLoop.execute {
            let frame: WebSocketFrame
            switch message {
            case .text(let text): frame = WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(string: text))
            case .binary(let bytes): frame = WebSocketFrame(fin: true, opcode: .binary, data: channel.allocator.buffer(bytes: bytes))
            }
            channel.writeAndFlush(frame, promise: nil)
        }
    }

    /// Sends a close frame with `code` (1000: normal closure) and closes the connection once the client answers it,
    /// or two seconds later.
    public func close(code: UInt16 = 1000, reason: String = "") {
        guard !closing.exchange(true, ordering: .relaxed) else { return }
        let channel = self.channel
        channel.eventLoop.execute {
            var data = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            data.writeInteger(code)
            data.writeString(String(reason.utf8.prefix(120)) ?? "")
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data), promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    /// Whether ``close(code:reason:)`` was called.
    var isClosing: Bool { closing.load(ordering: .relaxed) }
}

/// Reads a WebSocket connection's frames for its ``WebSocketEndpoint``: whole messages go to it, pings are answered,
/// a close frame is answered and closes the connection.
final class WebSocketFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let endpoint: any WebSocketEndpoint
    private let connection: WebSocketConnection
    private var closedReported = false

    init(endpoint: any WebSocketEndpoint, connection: WebSocketConnection) {
        self.endpoint = endpoint
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            var data = frame.unmaskedData
            endpoint.received(.text(data.readString(length: data.readableBytes) ?? ""))
        case .binary:
            endpoint.received(.binary(Array(frame.unmaskedData.readableBytesView)))
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            // The client's close: answered with its code unless this side closed first, then the connection goes.
            if !connection.isClosing {
                var code = frame.unmaskedData
                let echo =
                    code.readInteger(as: UInt16.self).map { value -> ByteBuffer in
                        var buffer = context.channel.allocator.buffer(capacity: 2)
                        buffer.writeInteger(value)
                        return buffer
                    } ?? context.channel.allocator.buffer(capacity: 0)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: echo))).whenComplete { _ in
                    channel.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportClosed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        reportClosed()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            endpoint.serverStopping()
        } else if case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// A frame that is not WebSocket, or too large: the connection closes with the code that says which.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let tooBig: Bool
        switch error {
        case NIOWebSocketError.invalidFrameLength, NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge,
            NIOWebSocketFrameAggregator.Error.tooManyFragments:
            tooBig = true
        default:
            tooBig = false
        }
        connection.close(code: tooBig ? 1009 : 1002, reason: tooBig ? "message too big" : "protocol error")
    }

    private func reportClosed() {
        guard !closedReported else { return }
        closedReported = true
        endpoint.closed()
    }
}
