using System.Text.Json;

namespace Rope.Simd.Bench;

/// <summary>One run's results as kept in artifacts/results: the machine fingerprint, when, and every row.</summary>
internal sealed record ResultFile(Fingerprint Machine, DateTimeOffset Measured, List<ResultRow> Rows)
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>artifacts/results of the repository this runs in (found upwards from the working directory), or of the working directory.</summary>
    public static string Directory
    {
        get
        {
            for (var folder = new DirectoryInfo(Environment.CurrentDirectory); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(Path.Combine(folder.FullName, "Rope.Simd.sln")))
                {
                    return Path.Combine(folder.FullName, "artifacts", "results");
                }
            }

            return Path.Combine(Environment.CurrentDirectory, "artifacts", "results");
        }
    }

    /// <summary>Writes {id}.json and {id}.md (the printed tables under the fingerprint); returns the JSON path.</summary>
    public string Save(string markdown)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string stem = Path.Combine(Directory, Machine.Id);
        File.WriteAllText(stem + ".json", JsonSerializer.Serialize(this, Options));
        File.WriteAllText(stem + ".md", $"# Rope.Simd quick run: {Machine.Id}\n\n{Machine.Describe()}\n\nMeasured {Measured:yyyy-MM-dd}.\n{markdown}");
        return stem + ".json";
    }

    public static List<ResultFile> LoadAll() =>
        [.. System.IO.Directory.Exists(Directory)
            ? System.IO.Directory.GetFiles(Directory, "*.json").Order(StringComparer.Ordinal)
                .Select(file => JsonSerializer.Deserialize<ResultFile>(File.ReadAllText(file), Options)!)
            : []];
}
