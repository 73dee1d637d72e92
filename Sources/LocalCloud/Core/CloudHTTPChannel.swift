import AWSProtocol
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
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
            try channel.pipeline.syncOperations.addHandler(CloudHTTPHandler(
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

    init(answer: @escaping CloudHTTPChannel.Answerer, executor: EventLoopTaskExecutor?, limits: ConnectionLimits,
         connection: ConnectionGuard, inFlight: InFlightAnswer) {
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
                    "SlowDown", "The local cloud holds \(limits.maximumBufferedRequestBytes) bytes of request bodies at "
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
        let work: @Sendable () async -> Void = {
            let response = await answer(received)
            let write: @Sendable () -> Void = {
                bound.value.handler.write(response, for: received.head, context: bound.value.context)
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
        context.write(wrapOutboundOut(.head(HTTPResponseHead(
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
