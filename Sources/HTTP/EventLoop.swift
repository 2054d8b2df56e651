import CLinux
import Dispatch
import Foundation
import Glibc

/// What an event loop calls when a registered descriptor is ready.
protocol EventHandler: AnyObject {
    func handleEvent(readable: Bool, writable: Bool, failed: Bool)
    /// Called a few times a second on the loop with the current uptime in nanoseconds.
    func checkDeadline(now: UInt64)
}

/// Which readiness an event loop watches a descriptor for.
struct Interest: Equatable {
    var readable: Bool
    var writable: Bool

    static let none = Interest(readable: false, writable: false)
    static let read = Interest(readable: true, writable: false)
    static let write = Interest(readable: false, writable: true)

    var epollEvents: UInt32 {
        (readable ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (writable ? EPOLLOUT.rawValue : 0)
    }
}

/// One thread waiting on one epoll instance and running the handlers of its descriptors.
///
/// Why not a Dispatch source per socket: on Linux every Dispatch source event travels from
/// Dispatch's manager thread (which owns the epoll instance) to a worker thread, two context
/// switches per request; the profile showed a third of the CPU in the scheduler. A loop that
/// waits and handles on the same thread, with one loop per core, handles a batch of ready
/// sockets per wake-up. Work that may block runs on a Dispatch queue instead (see `Connection`).
final class EventLoop: @unchecked Sendable {
    let name: String
    private let epoll: Int32
    /// Written to wake the loop when another thread hands it a task.
    private let wakeDescriptor: Int32
    private let tasks = Locked<[() -> Void]>([])
    /// Loop-confined: the handler of each registered descriptor.
    private var handlers: [Int32: EventHandler] = [:]
    private let sweepIntervalNanoseconds: UInt64
    private var nextSweep: UInt64 = 0
    private var running = true
    private let stopped = DispatchSemaphore(value: 0)
    private var threadID: pthread_t?

    init(name: String, sweepInterval: Double) throws {
        self.name = name
        sweepIntervalNanoseconds = UInt64(sweepInterval * 1e9)
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw SocketError("epoll_create1") }
        wakeDescriptor = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard wakeDescriptor >= 0 else { throw SocketError("eventfd") }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeDescriptor
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, wakeDescriptor, &event) == 0 else { throw SocketError("epoll_ctl") }
    }

    deinit {
        Glibc.close(epoll)
        Glibc.close(wakeDescriptor)
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Whether the caller runs on this loop's thread.
    var isCurrent: Bool {
        guard let threadID else { return false }
        return pthread_equal(threadID, pthread_self()) != 0
    }

    /// Runs `task` on the loop thread, soon.
    func execute(_ task: @escaping () -> Void) {
        let wasEmpty = tasks.withLock { queue in
            queue.append(task)
            return queue.count == 1
        }
        // One wake-up is enough however many tasks queue up before the loop drains them.
        if wasEmpty {
            var one: UInt64 = 1
            _ = Glibc.write(wakeDescriptor, &one, 8)
        }
    }

    /// Loop thread only.
    func register(_ descriptor: Int32, handler: EventHandler, interest: Interest) throws {
        var event = epoll_event()
        event.events = interest.epollEvents
        event.data.fd = descriptor
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, descriptor, &event) == 0 else { throw SocketError("epoll_ctl(ADD)") }
        handlers[descriptor] = handler
    }

    /// Loop thread only.
    func change(_ descriptor: Int32, interest: Interest) {
        var event = epoll_event()
        event.events = interest.epollEvents
        event.data.fd = descriptor
        _ = epoll_ctl(epoll, EPOLL_CTL_MOD, descriptor, &event)
    }

    /// Loop thread only; call before closing the descriptor.
    func deregister(_ descriptor: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, descriptor, nil)
        handlers[descriptor] = nil
    }

    /// Ends the loop after its current iteration and waits for it.
    func stop() {
        execute { [self] in running = false }
        stopped.wait()
    }

    private func run() {
        threadID = pthread_self()
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer {
            events.deallocate()
            stopped.signal()
        }
        nextSweep = DispatchTime.now().uptimeNanoseconds + sweepIntervalNanoseconds
        while running {
            let now = DispatchTime.now().uptimeNanoseconds
            let timeout = Int32(clamping: nextSweep > now ? (nextSweep - now) / 1_000_000 + 1 : 0)
            let count = epoll_wait(epoll, events, Int32(capacity), timeout)
            if count < 0 && errno != EINTR { break }
            for index in 0..<max(0, Int(count)) {
                let event = events[index]
                let descriptor = event.data.fd
                if descriptor == wakeDescriptor {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeDescriptor, &value, 8)
                    continue
                }
                guard let handler = handlers[descriptor] else { continue }
                let flags = event.events
                handler.handleEvent(readable: flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0,
                                    writable: flags & EPOLLOUT.rawValue != 0,
                                    failed: flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0)
            }
            runTasks()
            let afterEvents = DispatchTime.now().uptimeNanoseconds
            if afterEvents >= nextSweep {
                nextSweep = afterEvents + sweepIntervalNanoseconds
                for handler in Array(handlers.values) { handler.checkDeadline(now: afterEvents) }
            }
        }
        runTasks()
    }

    private func runTasks() {
        while true {
            let batch = tasks.withLock { queue -> [() -> Void] in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            if batch.isEmpty { return }
            for task in batch { task() }
        }
    }
}
