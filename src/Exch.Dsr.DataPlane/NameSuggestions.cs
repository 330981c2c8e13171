namespace Exch.Dsr.DataPlane;

/// <summary>"no server 'cas1'; did you mean 'CAS1'?" for names an operator typed on the control socket.</summary>
internal static class NameSuggestions
{
    /// <summary>The message for an unknown <paramref name="name"/>: the nearest known name, or every known name.</summary>
    public static string Unknown(string kind, string name, IEnumerable<string> known)
    {
        var names = known.ToList();
        var nearest = names
            .Select(n => (Name: n, Distance: Distance(name.ToLowerInvariant(), n.ToLowerInvariant())))
            .Where(c => c.Distance <= Math.Max(2, name.Length / 3))
            .OrderBy(c => c.Distance)
            .Select(c => c.Name)
            .FirstOrDefault();
        return nearest is not null
            ? $"no {kind} '{name}'; did you mean '{nearest}'?"
            : $"no {kind} '{name}' (the {kind}s are: {(names.Count == 0 ? "none" : string.Join(", ", names))})";
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
