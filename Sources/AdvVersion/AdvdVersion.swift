/// advd's release: what `--version` prints, the daemon reports in `status` and every metrics.json
/// records. One constant for every module and executable.
public enum AdvdVersion {
    public static let current = "0.3.0"
}
