namespace Exch.Dsr.Configuration;

/// <summary>
/// The "did you mean" of every message about a name someone typed: configuration keys, and server or service names
/// given to the control commands.
/// </summary>
public static class NearestName
{
    /// <summary>
    /// The known name nearest to <paramref name="typed"/>, ignoring case, when it is a plausible typo (at most
    /// max(2, a third of its length) edits away); otherwise null.
    /// </summary>
    public static string? Find(string typed, IEnumerable<string> known)
    {
        string lowered = typed.ToLowerInvariant();
        var best = known
            .Select(name => (Name: name, Distance: Distance(lowered, name.ToLowerInvariant())))
            .OrderBy(candidate => candidate.Distance)
            .FirstOrDefault();
        return best.Name is not null && best.Distance <= Math.Max(2, typed.Length / 3) ? best.Name : null;
    }

    /// <summary>Levenshtein distance: insertions, deletions and substitutions.</summary>
    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
