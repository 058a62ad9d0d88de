// sluice-bench: load generators for the benchmarks in bench/ (see bench/README.md).
// Each subcommand prints one JSON object on one line and nothing else on stdout.
import ArgumentParser
import NIOCore
import NIOPosix

struct SluiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-bench",
        abstract: "Benchmark load generators for Sluice; each prints one JSON line.",
        subcommands: [RedisClientBenchmark.self, SSELatencyBenchmark.self, SSEIdleBenchmark.self])
}

// `--nio-executor` has to take effect before any task is created, so before the arguments are
// parsed: Swift concurrency then runs its jobs on NIO's event loop threads (no hop between the
// event loop and the cooperative pool when a reply resumes the waiting task).
if CommandLine.arguments.contains(RedisClientBenchmark.nioExecutorFlag) {
    guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
        fatalError("could not install NIO's event loops as the global concurrency executor")
    }
}

// Called from an async function so that AsyncParsableCommand's async `main()` is chosen: bare
// top-level code would pick ParsableCommand's synchronous one, which cannot run async subcommands.
func runAsync() async { await SluiceBench.main() }
await runAsync()
