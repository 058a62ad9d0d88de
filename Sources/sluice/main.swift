import NIOCore
import NIOPosix
import SluiceCore

// With SLUICE_EXECUTOR=nio (or --executor nio) Swift concurrency runs its jobs on NIO's event loop
// threads: a Redis reply then resumes the waiting request on the thread that read it, instead of
// hopping to the cooperative pool. Measured, it is slower here (bench/README.md → executor), so
// the default stays Swift's pool. It has to happen before any task exists, so before the
// arguments are parsed; the value is checked again, with the others, by the parser.
if ExecutorChoice.fromEnvironmentAndArguments() == .nio {
    guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
        fatalError("could not install NIO's event loops as the global concurrency executor")
    }
}

// Called from an async function so that AsyncParsableCommand's async `main()` is chosen: bare
// top-level code would pick ParsableCommand's synchronous one, which cannot run async subcommands.
func runAsync() async { await SluiceCommand.main() }
await runAsync()
