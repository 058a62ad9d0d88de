// swift-tools-version:6.0
// The reference of bench/idle-connections: a bare Hummingbird server with one route, built with
// the same Hummingbird as Sluice, to show what an idle keep-alive connection costs before any of
// Sluice's own code. Not part of the sluice package (its own package, built on demand).
import PackageDescription

let package = Package(
    name: "hummingbird-floor",
    dependencies: [.package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1")],
    targets: [
        .executableTarget(name: "hummingbird-floor", dependencies: [.product(name: "Hummingbird", package: "hummingbird")])
    ]
)
