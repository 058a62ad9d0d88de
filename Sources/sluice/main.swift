import NIOCore
import NIOPosix
import SluiceCore

// Swift concurrency runs its jobs on NIO's event loop threads unless SLUICE_EXECUTOR=swift (or
// --executor swift): a Redis reply then resumes the waiting request on the thread that read it,
// and the response is written from there, instead of hopping to the cooperative pool and back
// for every await (bench/README.md → executor). It has to happen before any task exists, so
// before the arguments are parsed; the value is checked again, with the others, by the parser.
if ExecutorChoice.fromEnvironmentAndArguments() == .nio {
    guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
        fatalError("could not install NIO's event loops as the global concurrency executor")
    }
}

// Called from an async function so that AsyncParsableCommand's async `main()` is chosen: bare
// top-level code would pick ParsableCommand's synchronous one, which cannot run async subcommands.
func runAsync() async { await SluiceCommand.main() }
await runAsync()
