import AWSProtocol
import NIOCore
import NIOHTTP1
import Synchronization

#if os(Linux)
    /// glibc's `malloc_trim` (malloc.h, which the Glibc module does not export).
    @_silgen_name("malloc_trim")
    private func mallocTrim(_ pad: Int) -> Int32
#endif

/// What the server lets its clients hold: connections, time to send a request, and memory for request bodies.
///
/// Why: without them a client that opens connections and never finishes a request (on purpose, or a broken one)
/// holds them for ever, and many large requests at once hold their bodies in memory together. Each limit answers
/// what a client exceeding it is told, so that nothing fails silently: `RequestTimeout` for a request too slow to
/// arrive, 503 for a connection or a body past the server's capacity (the SDKs retry 503 `SlowDown`).
public final class ConnectionLimits: Sendable {
    public let maximumRequestBytes: Int
    public let requestReadTimeout: TimeAmount
    public let idleConnectionTimeout: TimeAmount
    public let maximumConnections: Int
    public let maximumBufferedRequestBytes: Int

    private let openConnections = Atomic<Int>(0)
    private let bufferedBytes = Atomic<Int>(0)
    /// The most bytes buffered since memory was last given back to the system.
    private let bufferedPeak = Atomic<Int>(0)

    public init(configuration: CloudConfiguration) {
        maximumRequestBytes = configuration.maximumRequestBytes
        requestReadTimeout = TimeAmount(configuration.requestReadTimeout)
        idleConnectionTimeout = TimeAmount(configuration.idleConnectionTimeout)
        maximumConnections = configuration.maximumConnections
        maximumBufferedRequestBytes = configuration.maximumBufferedRequestBytes
    }

    /// Counts a new connection in; false (and not counted) when the server already serves its maximum.
    func admitConnection() -> Bool {
        if openConnections.wrappingAdd(1, ordering: .relaxed).newValue <= maximumConnections { return true }
        openConnections.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func releaseConnection() {
        openConnections.wrappingSubtract(1, ordering: .relaxed)
    }

    var connectionCount: Int { openConnections.load(ordering: .relaxed) }
    var bufferedByteCount: Int { bufferedBytes.load(ordering: .relaxed) }

    /// Reserves `count` bytes of request body; false (nothing reserved) when that would pass the server's total.
    func reserve(_ count: Int) -> Bool {
        let total = bufferedBytes.wrappingAdd(count, ordering: .relaxed).newValue
        if total > maximumBufferedRequestBytes {
            bufferedBytes.wrappingSubtract(count, ordering: .relaxed)
            return false
        }
        var peak = bufferedPeak.load(ordering: .relaxed)
        while total > peak {
            let (exchanged, original) = bufferedPeak.compareExchange(expected: peak, desired: total, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        return true
    }

    /// Gives back bytes reserved by ``reserve(_:)``. When the last body of a burst is released, memory the allocator
    /// kept for the burst is returned to the system: glibc otherwise keeps freed megabytes of large bodies in its
    /// arenas, and the process stays as large as its largest burst.
    func release(_ count: Int) {
        guard count > 0 else { return }
        guard bufferedBytes.wrappingSubtract(count, ordering: .relaxed).newValue == 0,
            bufferedPeak.load(ordering: .relaxed) >= Self.trimThreshold
        else { return }
        bufferedPeak.store(0, ordering: .relaxed)
        #if os(Linux)
            // Off the event loop: trimming a large heap walks it.
            Task.detached(priority: .background) { _ = mallocTrim(0) }
        #endif
    }

    /// Bursts smaller than this leave memory as it is: trimming costs more than it gives back.
    static let trimThreshold = 8 * 1024 * 1024
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = overflow ? .nanoseconds(.max) : .nanoseconds(nanoseconds &+ attoseconds / 1_000_000_000)
    }
}

/// The first handler of a connection, before HTTP is decoded: it times how long a request takes to arrive and how
/// long the connection stays idle, and writes the refusals that cannot go through HTTP's encoder (the request was
/// not HTTP, or never ended) as whole responses of their own, after which the connection is closed.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// No request under way: the connection may stay so for the idle timeout.
        case idle
        /// A request's first bytes came: it must end before the read deadline.
        case reading
        /// A request was read whole and is being answered: not timed (an answer may take a minute, as a long poll
        /// does).
        case answering
        /// The connection became a WebSocket: not timed here; its endpoint ends it (an ECS Exec session lives as long
        /// as its command).
        case upgraded
        case closed
    }

    private let limits: ConnectionLimits
    private var phase = Phase.idle
    /// When the connection entered its phase.
    private var phaseStarted = NIODeadline.now()
    /// The check of the phase's time, repeated at a quarter of the shorter timeout. One repeated check per
    /// connection rather than a timer scheduled and cancelled at every request: each request then only reads the
    /// clock, and a timeout fires at most a quarter late.
    private var check: RepeatedTask?
    private var context: ChannelHandlerContext?

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startChecking(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startChecking(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        phase = .closed
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .idle:
            enter(.reading)
        case .closed:
            // Refused: what the client still sends is read and dropped (see ``refuse(_:context:)``).
            return
        case .reading, .answering, .upgraded:
            break
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if phase == .closed, case .some(ChannelEvent.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The request under way was read whole.
    func requestRead() {
        guard phase != .closed else { return }
        phase = .answering
    }

    /// The answer was written: the connection waits for its next request.
    func answerWritten() {
        guard phase != .closed else { return }
        enter(.idle)
    }

    /// The connection became a WebSocket (``WebSocketUpgrade``): its phases are no longer timed.
    func upgraded() {
        guard phase != .closed else { return }
        enter(.upgraded)
        check?.cancel()
        check = nil
    }

    private func enter(_ next: Phase) {
        phase = next
        phaseStarted = .now()
    }

    private func startChecking(context: ChannelHandlerContext) {
        guard check == nil, phase != .closed, phase != .upgraded else { return }
        enter(.idle)
        let shorter = min(limits.requestReadTimeout.nanoseconds, limits.idleConnectionTimeout.nanoseconds)
        let interval = TimeAmount.nanoseconds(max(shorter / 4, 1_000_000))
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = loopBound.value
            handler.checkPhase(context: context)
        }
    }

    private func checkPhase(context: ChannelHandlerContext) {
        let elapsed = NIODeadline.now() - phaseStarted
        switch phase {
        case .idle where elapsed >= limits.idleConnectionTimeout:
            phase = .closed
            check?.cancel()
            context.close(promise: nil)
        case .reading where elapsed >= limits.requestReadTimeout:
            refuse(Refusal.requestTimeout, context: context)
        case .idle, .reading, .answering, .upgraded, .closed:
            break
        }
    }

    /// Writes `refusal` as a whole HTTP/1.1 response and closes the connection after it.
    func refuse(_ refusal: Refusal) {
        guard let context else { return }
        refuse(refusal, context: context)
    }

    private func refuse(_ refusal: Refusal, context: ChannelHandlerContext) {
        guard phase != .closed else { return }
        phase = .closed
        check?.cancel()
        check = nil
        let bytes = refusal.responseBytes(date: HTTPDateHeader.shared.current())
        let channel = context.channel
        // Closing a socket that still has unread bytes of the client's resets the connection, and a reset can destroy
        // the refusal in the client's buffers before it reads it. So only the server's side is closed once the refusal
        // is written; the client's bytes are read and dropped until it closes its side, or for two seconds at most.
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: bytes))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }
}

/// A refusal written by the connection itself rather than by a service: a reason in plain text, the AWS error
/// code in `x-amzn-ErrorType` (where the SDKs look for it when the body is not theirs to parse).
struct Refusal: Equatable, Sendable {
    var status: Int
    var reason: String
    var code: String
    var message: String

    func responseBytes(date: String) -> [UInt8] {
        let body = message + "\n"
        let head =
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "x-amzn-ErrorType: \(code)\r\nDate: \(date)\r\nServer: \(CloudServer.serverName)\r\nConnection: close\r\n\r\n"
        return Array((head + body).utf8)
    }

    static let requestTimeout = Refusal(
        status: 400, reason: "Bad Request", code: "RequestTimeout",
        message: "Your socket connection to the server was not read from or written to within the timeout period. "
            + "Idle connections will be closed.")

    static func tooManyConnections(_ limit: Int) -> Refusal {
        Refusal(
            status: 503, reason: "Service Unavailable", code: "ServiceUnavailable",
            message: "The local cloud serves at most \(limit) connections at once; try again when others have closed.")
    }

    /// The answer to bytes that are not an HTTP/1.1 request.
    static func malformed(_ error: HTTPParserError) -> Refusal {
        switch error {
        case .headerOverflow:
            return Refusal(
                status: 431, reason: "Request Header Fields Too Large", code: "RequestHeaderSectionTooLarge",
                message: "The request's headers are larger than the 80 KiB the local cloud reads.")
        case .invalidMethod:
            return Refusal(
                status: 400, reason: "Bad Request", code: "BadRequest",
                message: "The request's method is not an HTTP method; the AWS protocols use GET, POST, PUT, PATCH, DELETE and HEAD.")
        case .invalidVersion:
            return Refusal(
                status: 505, reason: "HTTP Version Not Supported", code: "BadRequest",
                message: "The local cloud speaks HTTP/1.1 and HTTP/1.0 only.")
        default:
            return Refusal(
                status: 400, reason: "Bad Request", code: "BadRequest",
                message: "The request is not valid HTTP/1.1 (\(error)); the local cloud speaks the AWS protocols over HTTP/1.1.")
        }
    }
}
