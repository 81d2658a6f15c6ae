import Foundation

/// Charts drawn as inline SVG for report.html: no script, no external file, readable in print.
/// Every chart has a title, labelled axes with round ticks, and a legend naming each series.

/// One line (or set of markers) of a line chart.
struct ChartSeries {
    var name: String
    var points: [(x: Double, y: Double)]
    /// Markers only, no line: a single measurement such as the battery's worst case at ε.
    var markersOnly = false
    var dashed = false
}

/// The colours of the series, in order: the Okabe–Ito palette, distinguishable with colour-blindness.
let chartPalette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

/// Axis layout shared by the charts.
private struct ChartFrame {
    static let width = 520.0, height = 300.0
    static let left = 64.0, right = 16.0, top = 52.0, bottom = 48.0
    var plotWidth: Double { Self.width - Self.left - Self.right }
    var plotHeight: Double { Self.height - Self.top - Self.bottom }
}

struct LineChart {
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [ChartSeries]
    /// The y axis's range; nil: from the data, widened to round ticks.
    var yRange: ClosedRange<Double>?
    var yFormat: (Double) -> String = { ChartText.number($0) }
    var xFormat: (Double) -> String = { ChartText.number($0) }

    func svg() -> String {
        let frame = ChartFrame()
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        guard let xMin = xs.min(), let xMax = xs.max(), let yMin = ys.min(), let yMax = ys.max() else {
            return ChartText.empty(title: title, note: "no data")
        }
        let xTicks = ChartText.ticks(xMin, xMax == xMin ? xMin + 1 : xMax)
        // a constant series (a constant learning rate) gets an axis from 0 to twice its value
        let (dataLow, dataHigh) = yMin == yMax ? (min(0, yMin), yMax == 0 ? 1 : yMax + abs(yMax)) : (yMin, yMax)
        let yTicks = yRange.map { ChartText.ticks($0.lowerBound, $0.upperBound) } ?? ChartText.ticks(dataLow, dataHigh)
        let xLow = xTicks.first!, xHigh = xTicks.last!, yLow = yRange?.lowerBound ?? yTicks.first!, yHigh = yRange?.upperBound ?? yTicks.last!
        func px(_ x: Double) -> Double { ChartFrame.left + (x - xLow) / (xHigh - xLow) * frame.plotWidth }
        func py(_ y: Double) -> Double { ChartFrame.top + frame.plotHeight - (y - yLow) / (yHigh - yLow) * frame.plotHeight }

        var body = ChartText.axes(xTicks: xTicks.map { (px($0), xFormat($0)) }, yTicks: yTicks.map { (py($0), yFormat($0)) },
                                  xLabel: xLabel, yLabel: yLabel)
        for (number, line) in series.enumerated() {
            let colour = chartPalette[number % chartPalette.count]
            let coordinates = line.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }
            if !line.markersOnly && coordinates.count > 1 {
                body += "<polyline class=\"series\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(coordinates.joined(separator: " "))\"><title>\(ChartText.escape(line.name))</title></polyline>\n"
            }
            for point in line.points {
                let shape = line.markersOnly
                    ? String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\"", px(point.x) - 4.5, py(point.y) - 4.5)
                    : String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"", px(point.x), py(point.y))
                body += "\(shape) fill=\"\(colour)\"><title>\(ChartText.escape(line.name)): \(xFormat(point.x)), \(yFormat(point.y))</title>\(line.markersOnly ? "</rect>" : "</circle>")\n"
            }
        }
        body += ChartText.legend(series.enumerated().map { ($0.element.name, chartPalette[$0.offset % chartPalette.count], $0.element.markersOnly) })
        return ChartText.frame(title: title, body: body)
    }
}

/// Grouped bars, one group per category (a class), one bar per series, on a 0–100% axis.
struct BarChart {
    var title: String
    var yLabel: String
    var categories: [String]
    var series: [(name: String, values: [Double])]

    func svg() -> String {
        guard !categories.isEmpty else { return ChartText.empty(title: title, note: "no data") }
        let frame = ChartFrame()
        let yTicks = ChartText.ticks(0, 1)
        func py(_ y: Double) -> Double { ChartFrame.top + frame.plotHeight - y * frame.plotHeight }
        let group = frame.plotWidth / Double(categories.count), bar = group * 0.8 / Double(max(series.count, 1))
        let labels = categories.enumerated().map { (ChartFrame.left + (Double($0.offset) + 0.5) * group, $0.element) }
        var body = ChartText.axes(xTicks: labels, yTicks: yTicks.map { (py($0), ChartText.percent($0)) }, xLabel: "", yLabel: yLabel,
                                  slantedX: categories.contains { $0.count > 4 })
        for (number, line) in series.enumerated() {
            let colour = chartPalette[number % chartPalette.count]
            for (index, value) in line.values.enumerated() {
                let x = ChartFrame.left + Double(index) * group + group * 0.1 + Double(number) * bar
                body += String(format: "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\">", x, py(value), bar, py(0) - py(value), colour)
                body += "<title>\(ChartText.escape(categories[index])), \(ChartText.escape(line.name)): \(ChartText.percent(value))</title></rect>\n"
            }
        }
        body += ChartText.legend(series.enumerated().map { ($0.element.name, chartPalette[$0.offset % chartPalette.count], true) })
        return ChartText.frame(title: title, body: body)
    }
}

/// The pieces every chart shares: frame, axes, ticks, legend, escaping and number formats.
enum ChartText {
    /// About five round ticks (steps of 1, 2 or 5 × 10ᵏ) covering [low, high].
    static func ticks(_ low: Double, _ high: Double) -> [Double] {
        let span = max(high - low, 1e-12)
        let rough = span / 5, magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = floor(low / step) * step, last = ceil(high / step) * step
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    static func number(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 1000 || abs(value) < 0.001 { return String(format: "%.2g", value) }
        return String(format: "%g", (value * 10_000).rounded() / 10_000)
    }

    static func percent(_ value: Double) -> String { String(format: "%.0f%%", value * 100) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func frame(title: String, body: String) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \(Int(ChartFrame.width)) \(Int(ChartFrame.height))" role="img" aria-label="\(escape(title))">
        <text class="chart-title" x="\(Int(ChartFrame.width / 2))" y="18" text-anchor="middle">\(escape(title))</text>
        \(body)</svg>
        """
    }

    static func empty(title: String, note: String) -> String {
        frame(title: title, body: "<text x=\"\(Int(ChartFrame.width / 2))\" y=\"150\" text-anchor=\"middle\">\(escape(note))</text>\n")
    }

    static func axes(xTicks: [(Double, String)], yTicks: [(Double, String)], xLabel: String, yLabel: String,
                     slantedX: Bool = false) -> String {
        let frame = ChartFrame()
        let bottom = ChartFrame.top + frame.plotHeight, right = ChartFrame.left + frame.plotWidth
        var svg = ""
        for (y, label) in yTicks {
            svg += String(format: "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", ChartFrame.left, y, right, y)
            svg += String(format: "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", ChartFrame.left - 6, y + 4, escape(label))
        }
        for (x, label) in xTicks {
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", x, bottom, x, bottom + 5)
            if slantedX {
                svg += String(format: "<text class=\"tick\" transform=\"translate(%.1f,%.1f) rotate(-30)\" text-anchor=\"end\">%@</text>\n", x, bottom + 16, escape(label))
            } else {
                svg += String(format: "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", x, bottom + 18, escape(label))
            }
        }
        svg += String(format: "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", ChartFrame.left, bottom, right, bottom)
        svg += String(format: "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", ChartFrame.left, ChartFrame.top, ChartFrame.left, bottom)
        if !xLabel.isEmpty {
            svg += "<text class=\"axis-label\" x=\"\(Int(ChartFrame.left + frame.plotWidth / 2))\" y=\"\(Int(ChartFrame.height - 8))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        }
        svg += "<text class=\"axis-label\" transform=\"translate(16,\(Int(ChartFrame.top + frame.plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        return svg
    }

    /// One row of legend entries under the title, wrapping to a second row when needed.
    static func legend(_ entries: [(name: String, colour: String, square: Bool)]) -> String {
        var svg = "<g class=\"legend\">"
        var x = ChartFrame.left, y = 34.0
        for entry in entries {
            let width = 22 + Double(entry.name.count) * 6.2
            if x + width > ChartFrame.width - ChartFrame.right && x > ChartFrame.left { x = ChartFrame.left; y += 14 }
            svg += entry.square
                ? String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"%@\"/>", x, y - 8, entry.colour)
                : String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"2\"/>", x, y - 4, x + 12, y - 4, entry.colour)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>", x + 16, y, escape(entry.name))
            x += width + 10
        }
        return svg + "</g>\n"
    }
}
