/* Jurisdiction Ledger: an aggregate job's counts per unit, two dates side by side.
   The counts are the job owner's: fetched with their token (from #token=... or the form),
   kept in this tab's session storage. Units are drawn from the service's vector tiles. */
(function () {
  'use strict';

  var cfg = window.JL_CHOROPLETH;
  var TOKEN_KEY = 'jl-token';
  var state = { token: null, job: null, counts: null, level: null, measure: 'records',
                left: null, right: null, breaks: [], values: {} };
  var maps = {};
  var layers = {};

  function esc(text) {
    return String(text === null || text === undefined ? '' : text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function el(id) { return document.getElementById(id); }
  function status(text) { el('jl-status').textContent = text; }
  function number(value) {
    return Number(value).toLocaleString('en', { maximumFractionDigits: 1 });
  }

  function takeToken() {
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (match) {
      window.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  function api(path) {
    return fetch(cfg.prefix + path, { headers: { Authorization: 'Bearer ' + state.token } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error(body.error ? body.error.message : response.statusText);
            error.status = response.status;
            throw error;
          }
          return body;
        });
      });
  }

  /* ---- the scale --------------------------------------------------------------------------- */

  function valueOf(code, day) {
    var unit = state.values[code];
    var figures = unit ? unit.by_date[day] : null;
    return figures ? Number(figures[state.measure] || 0) : 0;
  }

  function computeBreaks() {
    var all = [];
    state.counts.units.forEach(function (unit) {
      [state.left, state.right].forEach(function (day) {
        var v = valueOf(unit.code, day);
        if (v > 0) all.push(v);
      });
    });
    all.sort(function (a, b) { return a - b; });
    var k = cfg.colours.length;
    var breaks = [];
    for (var i = 1; i <= k && all.length; i++) {
      var upper = all[Math.min(all.length - 1, Math.ceil((i * all.length) / k) - 1)];
      if (!breaks.length || upper > breaks[breaks.length - 1]) breaks.push(upper);
    }
    state.breaks = breaks;
  }

  function colourOf(value) {
    if (!(value > 0)) return cfg.empty;
    for (var i = 0; i < state.breaks.length; i++) {
      if (value <= state.breaks[i]) return cfg.colours[i + cfg.colours.length - state.breaks.length];
    }
    return cfg.colours[cfg.colours.length - 1];
  }

  function drawLegend() {
    var items = ['<li><span class="jl-choro-chip" style="background:' + cfg.empty +
      '"></span>none</li>'];
    var lower = 0;
    state.breaks.forEach(function (upper) {
      var label = (lower ? 'over ' + number(lower) : 'up to') + ' – ' + number(upper);
      if (!lower) label = 'up to ' + number(upper);
      items.push('<li><span class="jl-choro-chip" style="background:' + colourOf(upper) +
        '"></span>' + esc(label) + '</li>');
      lower = upper;
    });
    el('jl-legend').innerHTML = items.join('');
    el('jl-legend').setAttribute('data-classes', String(state.breaks.length));
  }

  /* ---- the maps ---------------------------------------------------------------------------- */

  function makeMaps() {
    var b = cfg.bounds;
    ['left', 'right'].forEach(function (side) {
      var map = L.map('jl-map-' + side, { zoomControl: side === 'left', preferCanvas: true,
                                          minZoom: 3, maxZoom: 18 });
      map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [12, 12] });
      var badge = L.DomUtil.create('div', 'jl-choro-badge', map.getContainer());
      badge.id = 'jl-badge-' + side;
      maps[side] = map;
      // Which unit was clicked is the lookup's answer (the register's boundary rule).
      map.on('click', function (event) {
        var day = state[side];
        var query = '?lon=' + event.latlng.lng.toFixed(7) + '&lat=' + event.latlng.lat.toFixed(7) +
          (day ? '&date=' + day : '');
        api('/v1/lookup' + query).then(function (answer) {
          var unit = answer.units.filter(function (u) { return u.level === state.level; })[0];
          if (unit) showUnit(unit);
          else status('No ' + state.level + ' there on ' + (day || 'that date') + '.');
        }).catch(function (error) { status(error.message); });
      });
    });
    maps.left.sync(maps.right);
    maps.right.sync(maps.left);
  }

  function tileLayer(side) {
    var day = state[side];
    var url = cfg.prefix + '/tiles/' + encodeURIComponent(state.level) + '/{z}/{x}/{y}.mvt' +
      (day ? '?date=' + day : '');
    var styles = {};
    styles[state.level] = function (properties) {
      return { fill: true, fillColor: colourOf(valueOf(properties.code, day)), fillOpacity: 0.78,
               color: '#546e7a', weight: 0.6, opacity: 0.8 };
    };
    return L.vectorGrid.protobuf(url, {
      rendererFactory: L.canvas.tile, interactive: false, vectorTileLayerStyles: styles,
      maxZoom: 18
    });
  }

  function draw() {
    computeBreaks();
    drawLegend();
    ['left', 'right'].forEach(function (side) {
      if (layers[side]) maps[side].removeLayer(layers[side]);
      layers[side] = tileLayer(side).addTo(maps[side]);
      var outside = (state.counts.outside || {})[state[side]];
      el('jl-badge-' + side).innerHTML = '<strong>' + esc(state[side] || 'own dates') + '</strong> · ' +
        esc(state.level) + ' · ' + esc(state.measure) + ' · ' + number(total(state[side])) +
        (outside ? ' <small>(' + number(outside[state.measure] || 0) + ' outside)</small>' : '');
    });
    status('Showing ' + state.counts.units.length.toLocaleString('en') + ' units of ' + state.level + '.');
    document.body.setAttribute('data-drawn', state.level + '|' + state.left + '|' + state.right);
  }

  function total(day) {
    var sum = 0;
    state.counts.units.forEach(function (unit) { sum += valueOf(unit.code, day); });
    return sum;
  }

  function showUnit(properties) {
    var unit = state.values[properties.code];
    var rows = state.counts.dates.map(function (day) {
      var figures = unit ? unit.by_date[day] || {} : {};
      return '<tr><td>' + esc(day || 'own dates') + '</td>' + state.counts.measures.map(function (m) {
        return '<td>' + number(figures[m] || 0) + '</td>';
      }).join('') + '</tr>';
    });
    el('jl-unit').innerHTML = '<h2>' + esc(properties.name || '') + ' <code>' + esc(properties.code) +
      '</code></h2><table class="jl-choro-table"><tr><th>date</th>' +
      state.counts.measures.map(function (m) { return '<th>' + esc(m) + '</th>'; }).join('') +
      '</tr>' + rows.join('') + '</table>';
  }

  /* ---- loading ----------------------------------------------------------------------------- */

  function options(select, values, chosen) {
    select.innerHTML = values.map(function (v) {
      return '<option value="' + esc(v) + '"' + (v === chosen ? ' selected' : '') + '>' +
        esc(v || 'own dates') + '</option>';
    }).join('');
  }

  function loadLevel(level) {
    status('Loading the counts…');
    var query = level ? '?level=' + encodeURIComponent(level) : '';
    return api('/v1/jobs/' + cfg.job + '/counts' + query).then(function (counts) {
      state.counts = counts;
      state.level = counts.level;
      state.values = {};
      counts.units.forEach(function (unit) { state.values[unit.code] = unit; });
      if (state.left === null) {
        state.left = counts.dates[0];
        state.right = counts.dates[counts.dates.length - 1];
      }
      if (counts.measures.indexOf(state.measure) < 0) state.measure = 'records';
      options(el('jl-level'), counts.levels, state.level);
      options(el('jl-measure'), counts.measures, state.measure);
      options(el('jl-left'), counts.dates, state.left);
      options(el('jl-right'), counts.dates, state.right);
      el('jl-controls').hidden = false;
      draw();
    });
  }

  function start() {
    el('jl-token-form').hidden = true;
    api('/v1/jobs/' + cfg.job).then(function (job) {
      state.job = job;
      var result = job.result || {};
      el('jl-summary').textContent = job.status === 'successful'
        ? number(result.records || 0) + ' records, ' + number(result.outside || 0) +
          ' outside every unit; ' + (job.message || '')
        : 'The job is ' + job.status + (job.message ? ': ' + job.message : '') + '.';
      if (job.status !== 'successful') return;
      if (!job.inputs.aggregate) {
        status('This job assigned records one by one; its map needs a job with aggregate: true.');
        return;
      }
      var levels = job.inputs.levels && job.inputs.levels.length ? job.inputs.levels : cfg.levels;
      return loadLevel(levels[levels.length - 1]);
    }).catch(function (error) {
      status(error.message);
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        window.sessionStorage.removeItem(TOKEN_KEY);
        el('jl-token-form').hidden = false;
      }
    });
  }

  el('jl-token-form').addEventListener('submit', function (event) {
    event.preventDefault();
    state.token = new FormData(event.target).get('token');
    window.sessionStorage.setItem(TOKEN_KEY, state.token);
    start();
  });
  el('jl-level').addEventListener('change', function (event) {
    loadLevel(event.target.value).catch(function (error) { status(error.message); });
  });
  el('jl-measure').addEventListener('change', function (event) { state.measure = event.target.value; draw(); });
  el('jl-left').addEventListener('change', function (event) { state.left = event.target.value; draw(); });
  el('jl-right').addEventListener('change', function (event) { state.right = event.target.value; draw(); });

  makeMaps();
  state.token = takeToken();
  if (state.token) {
    start();
  } else {
    el('jl-summary').textContent = 'The counts are the job owner\'s: give an analyst\'s token.';
    el('jl-token-form').hidden = false;
  }
})();
